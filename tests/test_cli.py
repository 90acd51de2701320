"""The admins' command line (docs/cli.md): `flask users create|import|token|list|show|delete`."""

import io
import re
import tracemalloc

import pytest

from app.admin import importer
from app.admin.importer import import_users, store_batch
from app.jwt_tokens import mint_token, verify_token
from tests.helpers import FIXED_NOW, TOKEN_SECRET, import_file, invalid_lines, stored, summary_of, user_count

# --- users create --------------------------------------------------------------


def test_create_with_every_option(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "alice",
            "--nickname",
            "Alice",
            "--face-url",
            "https://example.com/alice.png",
            "--gender",
            "2",
            "--phone-number",
            "+86 138 0000 0000",
            "--birth",
            "946684800",
            "--email",
            "alice@example.com",
            "--ex",
            '{"team": "blue"}',
            "--operation-id",
            "op-create-alice",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created alice" in result.output
    user = stored(app, "alice")
    assert (user.nickname, user.face_url, user.gender, user.phone_number, user.birth, user.email, user.ex) == (
        "Alice",
        "https://example.com/alice.png",
        2,
        "+86 138 0000 0000",
        946684800,
        "alice@example.com",
        '{"team": "blue"}',
    )
    assert user.operation_id == "op-create-alice"


def test_create_with_only_the_nickname_stores_empty_optional_fields(app, runner):
    assert runner.invoke(args=["users", "create", "bob", "--nickname", "Bob"]).exit_code == 0
    user = stored(app, "bob")
    assert (user.face_url, user.gender, user.phone_number, user.birth, user.email, user.ex) == ("", 0, "", 0, "", "")


@pytest.mark.parametrize(
    ("user_id", "options", "field"),
    [
        (" lead", [], "userID"),
        ("trail ", [], "userID"),
        ("bell\x07", [], "userID"),
        ("u" * 65, [], "userID"),
        ("ok", ["--nickname", ""], "nickname"),
        ("ok", ["--nickname", "n" * 65], "nickname"),
        ("ok", ["--face-url", "f" * 1025], "faceURL"),
        ("ok", ["--gender", "3"], "gender"),
        ("ok", ["--phone-number", "1" * 33], "phoneNumber"),
        ("ok", ["--birth", "-1"], "birth"),
        ("ok", ["--birth", "4294967296"], "birth"),
        ("ok", ["--email", "e" * 65], "email"),
        ("ok", ["--ex", "x" * 1025], "ex"),
        ("ok", ["--operation-id", ""], "operationID"),
    ],
)
def test_create_validates_like_the_endpoint(app, runner, user_id, options, field):
    if "--nickname" not in options:
        options = ["--nickname", "Nick", *options]
    result = runner.invoke(args=["users", "create", user_id, *options])
    assert result.exit_code != 0
    assert f"{field}:" in result.output
    assert user_count(app) == 0


def test_create_refuses_an_existing_user_and_keeps_it(app, runner):
    assert runner.invoke(args=["users", "create", "carol", "--nickname", "First"]).exit_code == 0
    result = runner.invoke(args=["users", "create", "carol", "--nickname", "Second"])
    assert result.exit_code == 1
    assert "carol" in result.output and "already registered" in result.output
    assert stored(app, "carol").nickname == "First"


def test_create_again_with_the_same_operation_id_is_a_retry(app, runner):
    arguments = ["users", "create", "dave", "--nickname", "Dave", "--operation-id", "op-dave"]
    assert runner.invoke(args=arguments).exit_code == 0
    result = runner.invoke(args=arguments)
    assert result.exit_code == 0
    assert "unchanged" in result.output
    assert user_count(app) == 1


def test_user_ids_differing_in_case_are_different_users(app, runner):
    for user_id in ("Erin", "erin", "ERIN"):
        assert runner.invoke(args=["users", "create", user_id, "--nickname", user_id]).exit_code == 0
    assert user_count(app) == 3


# --- users import --------------------------------------------------------------

CSV_WITH_EVERY_FIELD = (
    "USERID,NickName,faceUrl,gender,birth,phoneNum,EMAIL,ex,operationID,createTime\n"
    "full,Full Name,https://example.com/f.png,1,1600000000,555-0100,f@example.com,"
    '"two\nlines, and ""quotes""",op-1,123\n'
    "sparse,Sparse,,,,,,,,\n"
)


def test_import_csv_binds_keys_case_insensitively_and_reads_numbers(app, runner, tmp_path):
    result = import_file(runner, tmp_path, CSV_WITH_EVERY_FIELD)
    assert result.exit_code == 0, result.output
    assert summary_of(result) == (2, 0, 0)
    full = stored(app, "full")
    assert (full.nickname, full.face_url, full.gender, full.birth, full.phone_number, full.email, full.ex) == (
        "Full Name",
        "https://example.com/f.png",
        1,
        1600000000,
        "555-0100",
        "f@example.com",
        'two\nlines, and "quotes"',
    )
    assert full.operation_id == "op-1"
    sparse = stored(app, "sparse")  # empty cells are absent fields
    assert (sparse.face_url, sparse.gender, sparse.birth, sparse.email, sparse.ex) == ("", 0, 0, "", "")


def test_import_reports_invalid_csv_rows_with_their_line_numbers(app, runner, tmp_path):
    content = (
        "userID,nickname,gender,birth\n"  # 1
        "good1,Good,0,0\n"  # 2
        'good2,"multi\n'  # 3
        'line",1,5\n'  # 4
        "\n"  # 5, blank
        "bad-gender,Bad,7,0\n"  # 6
        "no-nickname,,1,0\n"  # 7
        "extra,Extra,1,0,surplus\n"  # 8
        'bad-birth,"two\n'  # 9
        'lines",1,soon\n'  # 10
        " spaced,Spaced,1,0\n"  # 11
        "good3,Good,2,4294967295\n"  # 12
    )
    result = import_file(runner, tmp_path, content)
    assert result.exit_code == 1
    assert summary_of(result) == (3, 0, 5)
    reasons = invalid_lines(result)
    assert sorted(reasons) == [6, 7, 8, 9, 11]
    assert "gender:" in reasons[6]
    assert "nickname:" in reasons[7]
    assert "birth:" in reasons[9]
    assert "userID:" in reasons[11]
    assert [stored(app, user_id) is not None for user_id in ("good1", "good2", "good3", "bad-gender")] == [
        True,
        True,
        True,
        False,
    ]
    assert stored(app, "good2").nickname == "multi\nline"


def test_import_crlf_csv(app, runner, tmp_path):
    content = 'userID,nickname\r\na,"A\r\nA"\r\nb,\r\nc,C\r\n'
    result = import_file(runner, tmp_path, content.encode("utf-8"))
    assert summary_of(result) == (2, 0, 1)
    assert invalid_lines(result).keys() == {4}
    assert stored(app, "a").nickname == "A\r\nA"


def test_import_skips_existing_users_without_overwriting(app, runner, tmp_path):
    assert runner.invoke(args=["users", "create", "old", "--nickname", "Original"]).exit_code == 0
    result = import_file(runner, tmp_path, "userID,nickname\nold,Changed\nnew,New\n")
    assert result.exit_code == 0
    assert summary_of(result) == (1, 1, 0)
    assert stored(app, "old").nickname == "Original"


@pytest.mark.parametrize("batch_size", ["1", "1000"])
def test_import_keeps_the_first_of_duplicate_rows_in_one_file(app, runner, tmp_path, batch_size):
    """The repeat is the file's mistake, reported on its line, not a user "already there"."""
    content = "userID,nickname\ntwin,First\nother,Other\ntwin,Second\n"
    result = import_file(runner, tmp_path, content, "--batch-size", batch_size)
    assert result.exit_code == 1
    assert summary_of(result) == (2, 0, 1)
    assert invalid_lines(result) == {4: "userID: Repeats an earlier row of this file (the first is kept)."}
    assert stored(app, "twin").nickname == "First"


def test_import_json_lines(app, runner, tmp_path):
    content = (
        '{"userID": "j1", "nickname": "One", "gender": 2, "birth": 1, "faceURL": null}\n'  # 1
        "\n"  # 2
        '{"USERID": "j2", "NICKNAME": "Two", "phoneNum": "123"}\n'  # 3
        '{"userID": "j3", "nickname": "Three", "gender": "1"}\n'  # 4: gender must be a number
        "not json\n"  # 5
        '["j4", "Four"]\n'  # 6
        '{"userID": "j5", "nickname": "Five", "birth": 1.5}\n'  # 7
        '{"userID": "j6", "nickname": "用户<6>"}\n'  # 8
    )
    result = import_file(runner, tmp_path, content, name="users.jsonl")
    assert result.exit_code == 1
    assert summary_of(result) == (3, 0, 4)
    reasons = invalid_lines(result)
    assert sorted(reasons) == [4, 5, 6, 7]
    assert "gender:" in reasons[4]
    assert "birth:" in reasons[7]
    assert stored(app, "j1").gender == 2
    assert stored(app, "j2").phone_number == "123"
    assert stored(app, "j6").nickname == "用户<6>"


def test_import_from_standard_input(app, runner):
    result = runner.invoke(
        args=["users", "import", "-"],
        input='{"userID": "piped", "nickname": "Piped"}\n{"userID": "piped2", "nickname": "Piped 2"}\n',
    )
    assert result.exit_code == 0, result.output
    assert summary_of(result) == (2, 0, 0)
    assert stored(app, "piped2").nickname == "Piped 2"


def test_import_format_option_overrides_detection(app, runner, tmp_path):
    result = import_file(runner, tmp_path, '{"userID": "x", "nickname": "X"}\n', "--format", "csv")
    assert summary_of(result)[0] == 0
    assert stored(app, "x") is None


def test_bad_utf8_costs_only_its_row(app, runner, tmp_path):
    content = b"userID,nickname\nfine1,Fine\nbroken,Bad\xff\xfeName\nfine2,Fine\n"
    result = import_file(runner, tmp_path, content)
    assert result.exit_code == 1
    assert summary_of(result) == (2, 0, 1)
    assert "nickname:" in invalid_lines(result)[3]

    jsonl = b'{"userID": "j-fine", "nickname": "F"}\n{"userID": "j-bad", "nickname": "\xff"}\n'
    result = import_file(runner, tmp_path, jsonl, name="users.jsonl")
    assert summary_of(result) == (1, 0, 1)
    assert "UTF-8" in invalid_lines(result)[2]


def test_a_bad_row_does_not_stop_the_good_ones_in_other_batches(app, runner, tmp_path):
    content = "userID,nickname\na,A\nb,B\nbad,\nc,C\nd,D\ne,E\n"
    result = import_file(runner, tmp_path, content, "--batch-size", "2")
    assert result.exit_code == 1
    assert summary_of(result) == (5, 0, 1)
    assert invalid_lines(result).keys() == {4}
    assert user_count(app) == 5


def test_import_commits_each_batch(app, runner, tmp_path, monkeypatch):
    stored_batches = []

    def store_two_batches_then_fail(profiles):
        if len(stored_batches) == 2:
            raise RuntimeError("the database went away")
        stored_batches.append(len(profiles))
        return store_batch(profiles)

    monkeypatch.setattr(importer, "store_batch", store_two_batches_then_fail)
    content = "userID,nickname\n" + "".join(f"u{i},N{i}\n" for i in range(7))
    result = import_file(runner, tmp_path, content, "--batch-size", "3")
    assert isinstance(result.exception, RuntimeError)
    assert stored_batches == [3, 3]
    assert user_count(app) == 6  # the first two batches stayed


def test_import_reports_progress_to_the_end_of_the_file(app, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("userID,nickname\n" + "".join(f"p{i},P\n" for i in range(25)), encoding="utf-8")
    progress = []
    with app.app_context(), open(path, "rb") as source:
        summary = import_users(source, batch_size=10, on_progress=progress.append)
    assert summary.created == 25
    assert sum(progress) == path.stat().st_size


def generated_csv(rows: int, padding: int) -> bytes:
    """A CSV whose rows carry an ignored column of `padding` characters, to make the file big cheaply."""
    filler = "x" * padding
    return ("userID,nickname,padding\n" + "".join(f"user{i},Nick {i},{filler}\n" for i in range(rows))).encode()


def counting_store_batch(profiles: list[dict]) -> int:
    return len(profiles)


def test_import_reads_the_file_as_it_goes(monkeypatch):
    source = io.BytesIO(generated_csv(5000, 20))
    positions_at_store = []

    def record_position(profiles):
        positions_at_store.append(source.tell())
        return len(profiles)

    monkeypatch.setattr(importer, "store_batch", record_position)
    summary = import_users(source, batch_size=100)
    assert summary.created == 5000
    assert len(positions_at_store) == 50
    # The first batch is stored when only the first few kilobytes have been read.
    assert positions_at_store[0] < len(source.getvalue()) / 20


def test_import_memory_does_not_grow_with_the_file(monkeypatch):
    file_bytes = generated_csv(2_000, 10_000)  # about 20 MB
    source = io.BytesIO(file_bytes)
    monkeypatch.setattr(importer, "store_batch", counting_store_batch)
    tracemalloc.start()
    try:
        summary = import_users(source, batch_size=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.created == 2_000
    assert peak < 3_000_000 < len(file_bytes) / 5


# --- users token ---------------------------------------------------------------


@pytest.fixture
def clocked_runner(make_app, clock):
    app = make_app(OPENIM_CLOCK=clock)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "frank", "--nickname", "Frank"]).exit_code == 0
    return runner


def test_token_prints_a_verifiable_token(clocked_runner):
    result = clocked_runner.invoke(args=["users", "token", "frank"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token == mint_token("frank", 1, TOKEN_SECRET, 7, FIXED_NOW).token
    claims = verify_token(token, [TOKEN_SECRET], FIXED_NOW)
    assert (claims["UID"], claims["Platform"]) == ("frank", "IOS")


def test_token_for_another_platform(clocked_runner):
    token = clocked_runner.invoke(args=["users", "token", "frank", "--platform", "5"]).output.strip()
    assert verify_token(token, [TOKEN_SECRET], FIXED_NOW)["Platform"] == "Web"


@pytest.mark.parametrize("platform", ["0", "10", "web"])
def test_token_refuses_an_unknown_platform(clocked_runner, platform):
    result = clocked_runner.invoke(args=["users", "token", "frank", "--platform", platform])
    assert result.exit_code == 2
    assert "--platform" in result.output


def test_token_for_an_unknown_user_is_an_error(runner):
    result = runner.invoke(args=["users", "token", "ghost"])
    assert result.exit_code == 1
    assert "ghost" in result.output and "not registered" in result.output
    assert "eyJ" not in result.output


# --- users list / show / delete -------------------------------------------------


def test_list_prints_every_user_id_in_order_across_batches(app, runner):
    user_ids = [f"user-{number:05d}" for number in range(2500)] + ["Zed", "adam", "Adam", "_x"]
    with app.app_context():
        for start in range(0, len(user_ids), 1000):
            store_batch([{"user_id": user_id, "nickname": "n"} for user_id in user_ids[start : start + 1000]])
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert result.output.splitlines() == sorted(user_ids)  # code point order, case sensitive


def test_list_with_no_users_prints_nothing(runner):
    result = runner.invoke(args=["users", "list"])
    assert (result.exit_code, result.output) == (0, "")


def test_show_prints_the_stored_profile(runner):
    runner.invoke(
        args=["users", "create", "gina", "--nickname", "Gina", "--email", "g@example.com", "--operation-id", "op-g"]
    )
    result = runner.invoke(args=["users", "show", "gina"])
    assert result.exit_code == 0
    shown = dict(re.findall(r"^(\w+) +(.*)$", result.output, flags=re.MULTILINE))
    assert shown["userID"] == "gina"
    assert shown["nickname"] == "Gina"
    assert shown["email"] == "g@example.com"
    assert shown["gender"] == "0"
    assert shown["operationID"] == "op-g"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown["createdAt"])


def test_show_an_unknown_user_is_an_error(runner):
    result = runner.invoke(args=["users", "show", "ghost"])
    assert result.exit_code == 1
    assert "ghost" in result.output and "not registered" in result.output


def test_delete_with_yes(app, runner):
    runner.invoke(args=["users", "create", "hank", "--nickname", "Hank"])
    runner.invoke(args=["users", "create", "hannah", "--nickname", "Hannah"])
    result = runner.invoke(args=["users", "delete", "hank", "--yes"])
    assert result.exit_code == 0
    assert "deleted hank" in result.output
    assert stored(app, "hank") is None
    assert stored(app, "hannah") is not None


def test_delete_asks_first(app, runner):
    runner.invoke(args=["users", "create", "ivy", "--nickname", "Ivy"])
    result = runner.invoke(args=["users", "delete", "ivy"], input="n\n")
    assert result.exit_code == 1
    assert stored(app, "ivy") is not None
    assert runner.invoke(args=["users", "delete", "ivy"], input="y\n").exit_code == 0
    assert stored(app, "ivy") is None


def test_delete_an_unknown_user_is_an_error(runner):
    result = runner.invoke(args=["users", "delete", "ghost", "--yes"])
    assert result.exit_code == 1
    assert "ghost" in result.output and "not registered" in result.output
