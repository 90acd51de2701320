"""`flask users export`, and `flask users import` reading it back into an empty database exactly."""
import calendar
import json
from datetime import datetime, timedelta

import flask_migrate
import pytest
from sqlalchemy import event, insert, select

from app import exporter
from app.exporter import export_users, to_unix_milliseconds
from app.extensions import db
from app.importer import from_unix_milliseconds
from app.models import User, utc_now
from tests.conftest import TEST_DATABASE_URL, is_mysql
from tests.scratch_database import empty_scratch_database
from tests.test_cli import import_file, invalid_lines, stored, summary_of

users_table = User.__table__
START = datetime(2021, 6, 1, 8, 30, 15, 123456)

# Users that the export must carry exactly: every field at its edges.
SPECIAL_USERS = [
    {"user_id": "用户-中文", "nickname": "张伟🙂", "ex": '{"城市": "北京"}', "gender": 1, "email": "张@例子.中国"},
    {"user_id": "😀🎉", "nickname": "😀" * 64, "face_url": "https://例え.jp/" + "😀" * 200, "gender": 2},
    {"user_id": "empty-optionals", "nickname": "E"},
    {
        "user_id": "m" * 64, "nickname": "n" * 64, "face_url": "f" * 1024, "gender": 2, "phone_number": "1" * 32,
        "birth": 4294967295, "email": "e" * 64, "ex": "x" * 1024, "operation_id": "o" * 64,
        "app_manger_level": 4, "global_recv_msg_opt": 2,
    },
    {"user_id": "json<&>", "nickname": '<b>&"\\\t\x7f', "ex": "line\nsep\u2028par\u2029 𠀀", "birth": 1},
    {"user_id": "manager", "nickname": "Manager", "app_manger_level": 2, "global_recv_msg_opt": 1},
    {"user_id": "notifier", "nickname": "Notifier", "app_manger_level": 3},
    {"user_id": "from-openim", "nickname": "Imported", "operation_id": ""},
    {"user_id": "Bob", "nickname": "Bob"},
    {"user_id": "bob", "nickname": "bob"},
    {"user_id": "epoch", "nickname": "Epoch", "created_at": datetime(1970, 1, 1, 0, 0, 0, 1000)},
    {"user_id": "y2k", "nickname": "Y2K", "created_at": datetime(1999, 12, 31, 23, 59, 59, 999999)},
]
BULK_USERS = 2100  # three pages of the export


def varied_users() -> list[dict]:
    rows = []
    for number, user in enumerate(SPECIAL_USERS):
        rows.append({"operation_id": f"op-{number}", "created_at": START + timedelta(seconds=number), **user})
    for number in range(BULK_USERS):
        rows.append({
            "user_id": f"bulk-{number:05d}",
            "nickname": f"用户 {number}",
            "gender": number % 3,
            "birth": number * 86400,
            "phone_number": f"+86 138 {number:08d}",
            "operation_id": f"register-{number}",
            "created_at": START + timedelta(milliseconds=number * 1001, microseconds=number),
        })
    return rows


EMPTY_OPTIONALS = {
    "face_url": "", "gender": 0, "phone_number": "", "birth": 0, "email": "", "ex": "",
    "app_manger_level": 0, "global_recv_msg_opt": 0,
}


def fill(app, rows: list[dict]) -> None:
    with app.app_context():
        db.session.execute(insert(users_table), [{**EMPTY_OPTIONALS, **row} for row in rows])
        db.session.commit()


def table_rows(app) -> list[tuple]:
    """Every stored user, all columns, created_at to the millisecond, in userID order."""
    with app.app_context():
        rows = db.session.execute(select(users_table).order_by(users_table.c.user_id)).mappings().all()
    return sorted(
        tuple({**row, "created_at": row["created_at"].replace(microsecond=row["created_at"].microsecond // 1000 * 1000)}
              .items())
        for row in rows
    )


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
    fill(app, [{
        "user_id": "用户<1>", "nickname": "张伟 😀", "face_url": "", "gender": 1, "phone_number": "", "birth": 7,
        "email": "", "ex": "a&b", "app_manger_level": 2, "global_recv_msg_opt": 1, "operation_id": "op-1",
        "created_at": datetime(2022, 2, 24, 4, 1, 44),
    }])
    result = runner.invoke(args=["users", "export"])  # '-', stdout, by default
    assert result.exit_code == 0
    assert result.stdout_bytes == (
        '{"userID":"用户\\u003c1\\u003e","nickname":"张伟 😀","faceURL":"","gender":1,"phoneNumber":"",'
        '"birth":7,"email":"","ex":"a\\u0026b","appMangerLevel":2,"globalRecvMsgOpt":1,'
        '"createTime":1645675304000,"operationID":"op-1"}\n'
    ).encode("utf-8")


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
    [datetime(1970, 1, 1), datetime(1970, 1, 1, 0, 0, 0, 1000), datetime(2022, 2, 24, 4, 1, 44, 123999),
     datetime(9999, 12, 31, 23, 59, 59, 999000)],
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
    assert (a.created_at, a.app_manger_level, a.global_recv_msg_opt, a.operation_id) == (
        expected_created, 2, 1, "op-a"
    )
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
        "appMangerLevel", "appMangerLevel", "globalRecvMsgOpt", "createTime", "createTime", "createTime",
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
