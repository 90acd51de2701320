"""The import tells the truth (issue 12): no retry-matching operationID, repeats named, real counts."""

import pytest
from sqlalchemy import event, select

from app.admin.importer import import_users
from app.errors import AlreadyRegistered
from app.extensions import db
from app.rules import users
from app.storage.models import User
from tests.helpers import SECRET, import_file, stored, summary_of


def register_body(user_id: str, operation_id: str, nickname: str = "New owner") -> dict:
    return {"secret": SECRET, "platform": 1, "userID": user_id, "nickname": nickname, "operationID": operation_id}


@pytest.mark.parametrize("operation_id", ["import", "cli", "x"])
def test_an_imported_user_cannot_be_re_registered_as_a_retry(app, client, runner, tmp_path, operation_id):
    assert summary_of(import_file(runner, tmp_path, "userID,nickname\nimported,Imported\n")) == (1, 0, 0)
    answer = client.post("/auth/user_register", json=register_body("imported", operation_id))
    assert (answer.status_code, answer.json["errCode"], answer.json["data"]) == (409, 1102, None)
    assert stored(app, "imported").nickname == "Imported"


def test_an_imported_user_stores_no_operation_id_a_request_could_send(app, runner, tmp_path):
    import_file(runner, tmp_path, "userID,nickname\nimported,Imported\n")
    assert stored(app, "imported").operation_id == ""


def test_a_row_with_its_own_operation_id_is_still_retryable(app, client, runner, tmp_path):
    import_file(runner, tmp_path, '{"userID": "own", "nickname": "Own", "operationID": "op-own"}\n', name="u.jsonl")
    answer = client.post("/auth/user_register", json=register_body("own", "op-own"))
    assert answer.json["errCode"] == 0


def test_users_stored_with_the_old_import_marker_are_no_retry_either(app):
    with app.app_context():
        users.register({"user_id": "legacy", "nickname": "Legacy"}, "import")
        with pytest.raises(AlreadyRegistered):
            users.register({"user_id": "legacy", "nickname": "Other"}, "import")
        users.register({"user_id": "normal", "nickname": "N"}, "op-1")
        users.register({"user_id": "normal", "nickname": "N"}, "op-1")  # a retry


def test_a_repeat_in_a_later_batch_is_reported_on_its_line(app, runner, tmp_path):
    content = "userID,nickname\n" + "".join(f"u{i},N\n" for i in range(5)) + "u1,Again\nu5,N\nu0,Again\n"
    result = import_file(runner, tmp_path, content, "--batch-size", "2")
    assert result.exit_code == 1
    assert summary_of(result) == (6, 0, 2)
    assert "line 7: userID: Repeats" in result.stderr and "line 9: userID: Repeats" in result.stderr
    assert stored(app, "u1").nickname == "N"


def test_the_summary_counts_only_the_rows_the_insert_stored(app, tmp_path):
    """Requests register some of the file's userIDs while the import runs: they are 'already there'."""
    path = tmp_path / "users.csv"
    path.write_text("userID,nickname\n" + "".join(f"r{i},Imported\n" for i in range(10)), encoding="utf-8")
    racing = ["r2", "r5", "r7", "r9"]

    def register_racers_just_before_the_insert(conn, cursor, statement, parameters, context, executemany):
        if executemany and statement.lstrip().upper().startswith("INSERT") and racing:
            for user_id in racing:
                users.register({"user_id": user_id, "nickname": "Racer"}, f"op-{user_id}")
            racing.clear()

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", register_racers_just_before_the_insert)
        try:
            with open(path, "rb") as source:
                summary = import_users(source)
        finally:
            event.remove(db.engine, "before_cursor_execute", register_racers_just_before_the_insert)
        stored_names = dict(db.session.execute(select(User.user_id, User.nickname)).all())
    assert not racing
    assert (summary.created, summary.existing, summary.invalid_count) == (6, 4, 0)
    assert sum(name == "Imported" for name in stored_names.values()) == 6
    assert stored_names["r5"] == "Racer"
