"""`flask users export`, and `flask users import` reading it back into an empty database exactly."""

import calendar
import json
from datetime import datetime

import flask_migrate
import pytest
from sqlalchemy import event, insert

from app.admin import exporter
from app.admin.exporter import export_users, to_unix_milliseconds
from app.admin.importer import from_unix_milliseconds
from app.extensions import db
from app.storage.models import User, utc_now
from tests.helpers import (
    BULK_USERS,
    EMPTY_OPTIONALS,
    SPECIAL_USERS,
    TEST_DATABASE_URL,
    import_file,
    invalid_lines,
    is_mysql,
    stored,
    summary_of,
    table_rows,
    varied_users,
)
from tests.scratch_database import empty_scratch_database

users_table = User.__table__


def fill(app, rows: list[dict]) -> None:
    with app.app_context():
        db.session.execute(insert(users_table), [{**EMPTY_OPTIONALS, **row} for row in rows])
        db.session.commit()


@pytest.fixture
def empty_copy(app_on, tmp_path):
    """An app on a second, empty database migrated with `flask db upgrade`'s code: same backend as `app`."""
    if is_mysql(TEST_DATABASE_URL):
        with empty_scratch_database() as url:
            copy = app_on(url)
            with copy.app_context():
                flask_migrate.upgrade()
            yield copy
            with copy.app_context():
                db.engine.dispose()
        return
    copy = app_on(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.app_context():
        flask_migrate.upgrade()
    yield copy


def test_export_then_import_into_an_empty_database_is_exact(app, runner, empty_copy, tmp_path):
    rows = varied_users()
    fill(app, rows)
    path = tmp_path / "users.jsonl"
    result = runner.invoke(args=["users", "export", str(path)])
    assert result.exit_code == 0, result.output
    assert f"exported {len(rows)} users" in result.stderr
    assert len(path.read_bytes().splitlines()) == len(rows)

    imported = import_file(empty_copy.test_cli_runner(), tmp_path, path.read_bytes(), name="users.jsonl")
    assert imported.exit_code == 0, imported.output
    assert summary_of(imported) == (len(rows), 0, 0)
    source, copy = table_rows(app), table_rows(empty_copy)
    assert len(copy) == len(rows)
    assert copy == source
    # The milliseconds survive where the backend keeps them (SQLite; MariaDB's DATETIME has whole seconds).
    if not is_mysql(TEST_DATABASE_URL):
        epoch = next(dict(row) for row in copy if dict(row)["user_id"] == "epoch")
        assert epoch["created_at"] == datetime(1970, 1, 1, 0, 0, 0, 1000)


def test_export_writes_request_field_names_in_raw_utf8(app, runner):
    fill(
        app,
        [
            {
                "user_id": "用户<1>",
                "nickname": "张伟 😀",
                "face_url": "",
                "gender": 1,
                "phone_number": "",
                "birth": 7,
                "email": "",
                "ex": "a&b",
                "app_manger_level": 2,
                "global_recv_msg_opt": 1,
                "operation_id": "op-1",
                "created_at": datetime(2022, 2, 24, 4, 1, 44),
            }
        ],
    )
    result = runner.invoke(args=["users", "export"])  # '-', stdout, by default
    assert result.exit_code == 0
    assert (
        result.stdout_bytes
        == (
            '{"userID":"用户\\u003c1\\u003e","nickname":"张伟 😀","faceURL":"","gender":1,"phoneNumber":"",'
            '"birth":7,"email":"","ex":"a\\u0026b","appMangerLevel":2,"globalRecvMsgOpt":1,'
            '"createTime":1645675304000,"operationID":"op-1"}\n'
        ).encode()
    )


def test_export_of_no_users_is_an_empty_file(runner, tmp_path):
    path = tmp_path / "none.jsonl"
    result = runner.invoke(args=["users", "export", str(path)])
    assert result.exit_code == 0
    assert path.read_bytes() == b""
    assert "exported 0 users" in result.stderr


class RecordingTarget:
    """A binary file that notes each write in the log the queries go to."""

    def __init__(self, log: list):
        self.log = log

    def write(self, data: bytes) -> None:
        self.log.append(("write", data.count(b"\n")))


def test_export_queries_a_page_at_a_time_and_writes_each_before_the_next(app):
    fill(app, varied_users()[:1050])
    log = []
    with app.app_context():

        def note_select(connection, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT") and "users" in statement:
                log.append(("select", None))

        event.listen(db.engine, "before_cursor_execute", note_select)
        try:
            assert export_users(RecordingTarget(log), page_size=100) == 1050
        finally:
            event.remove(db.engine, "before_cursor_execute", note_select)
    # Eleven pages, each written before the next is read; the twelfth select finds none.
    expected = [("select", None), ("write", 100)] * 10 + [("select", None), ("write", 50), ("select", None)]
    assert log == expected


def test_export_pages_follow_userid_order_without_gaps(app):
    fill(app, varied_users())
    with app.app_context(), db.engine.connect() as connection:
        pages = list(exporter.iter_pages(connection, page_size=700))
    assert [len(page) for page in pages] == [700, 700, 700, 12]
    user_ids = [row.user_id for page in pages for row in page]
    assert user_ids == sorted(user_ids) and len(set(user_ids)) == BULK_USERS + len(SPECIAL_USERS)


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(1970, 1, 1),
        datetime(1970, 1, 1, 0, 0, 0, 1000),
        datetime(2022, 2, 24, 4, 1, 44, 123999),
        datetime(9999, 12, 31, 23, 59, 59, 999000),
    ],
)
def test_unix_milliseconds_both_ways(created_at):
    milliseconds = to_unix_milliseconds(created_at)
    assert from_unix_milliseconds(milliseconds) == created_at.replace(microsecond=created_at.microsecond // 1000 * 1000)
    assert milliseconds == calendar.timegm(created_at.timetuple()) * 1000 + created_at.microsecond // 1000


# --- what `users import` now reads: createTime, the v3 levels, any operationID ----------


def test_import_keeps_create_time_levels_and_operation_id(app, runner, tmp_path):
    content = (
        '{"userID": "a", "nickname": "A", "createTime": 1645675304123, "appMangerLevel": 2, '
        '"globalRecvMsgOpt": 1, "operationID": "op-a"}\n'
        '{"userID": "b", "nickname": "B", "operationID": ""}\n'
    )
    result = import_file(runner, tmp_path, content, name="users.jsonl")
    assert result.exit_code == 0, result.output
    a, b = stored(app, "a"), stored(app, "b")
    expected_created = datetime(2022, 2, 24, 4, 1, 44, 0 if is_mysql(TEST_DATABASE_URL) else 123000)
    assert (a.created_at, a.app_manger_level, a.global_recv_msg_opt, a.operation_id) == (expected_created, 2, 1, "op-a")
    assert (b.app_manger_level, b.global_recv_msg_opt, b.operation_id) == (0, 0, "")
    assert abs(b.created_at - utc_now()).total_seconds() < 3600  # the import's time


def test_import_reads_the_new_fields_from_csv_as_numbers(app, runner, tmp_path):
    content = "userID,nickname,appMangerLevel,globalRecvMsgOpt,createTime\nc,C,4,2,1000\n"
    result = import_file(runner, tmp_path, content)
    assert result.exit_code == 0, result.output
    user = stored(app, "c")
    assert (user.app_manger_level, user.global_recv_msg_opt, user.created_at) == (4, 2, datetime(1970, 1, 1, 0, 0, 1))


def test_import_refuses_out_of_range_levels_and_create_times(app, runner, tmp_path):
    rows = [
        {"userID": "ok", "nickname": "OK", "appMangerLevel": 4, "globalRecvMsgOpt": 2, "createTime": 0},
        {"userID": "l5", "nickname": "L", "appMangerLevel": 5},
        {"userID": "lneg", "nickname": "L", "appMangerLevel": -1},
        {"userID": "r3", "nickname": "R", "globalRecvMsgOpt": 3},
        {"userID": "tneg", "nickname": "T", "createTime": -1},
        {"userID": "tfar", "nickname": "T", "createTime": 253402300800000},
        {"userID": "tstr", "nickname": "T", "createTime": "1645675304123"},
        {"userID": "o65", "nickname": "O", "operationID": "o" * 65},
    ]
    content = "".join(json.dumps(row) + "\n" for row in rows)
    result = import_file(runner, tmp_path, content, name="users.jsonl")
    assert result.exit_code == 1
    assert summary_of(result) == (1, 0, 7)
    reasons = invalid_lines(result)
    assert [reasons[line].split(":")[0] for line in range(2, 9)] == [
        "appMangerLevel",
        "appMangerLevel",
        "globalRecvMsgOpt",
        "createTime",
        "createTime",
        "createTime",
        "operationID",
    ]


def test_a_failed_export_leaves_the_previous_file_untouched(app, runner, tmp_path, monkeypatch):
    fill(app, varied_users()[:30])
    (tmp_path / "backups").mkdir()
    path = tmp_path / "backups" / "users.jsonl"
    path.write_bytes(b"yesterday's backup\n")
    iter_pages = exporter.iter_pages

    def fail_on_the_second_page(connection, page_size):
        pages = iter_pages(connection, 10)
        yield next(pages)
        raise ConnectionError("the database went away")

    monkeypatch.setattr(exporter, "iter_pages", fail_on_the_second_page)
    result = runner.invoke(args=["users", "export", str(path)])
    assert isinstance(result.exception, ConnectionError)
    assert path.read_bytes() == b"yesterday's backup\n"
    assert [entry.name for entry in path.parent.iterdir()] == ["users.jsonl"]  # no temporary file left
