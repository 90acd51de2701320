"""`flask users import-openim URL` against a real MariaDB database laid out as OpenIM v2 creates it."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, text

from app.admin import cli
from app.admin.openim_import import OpenImUsers
from app.storage.models import utc_now
from tests.helpers import SECRET, TEST_DATABASE_URL, is_mysql, stored, summary_of, user_count
from tests.scratch_database import empty_scratch_database

# The table OpenIM v2's gorm model (pkg/common/db/model_struct.go, User) migrates to:
# size:N strings are varchar(N), int32 is int, time.Time is datetime(3), all nullable.
OPENIM_USERS_DDL = """
CREATE TABLE `users` (
  `user_id` varchar(64) NOT NULL,
  `name` varchar(255) DEFAULT NULL,
  `face_url` varchar(255) DEFAULT NULL,
  `gender` int(11) DEFAULT NULL,
  `phone_number` varchar(32) DEFAULT NULL,
  `birth` datetime(3) DEFAULT NULL,
  `email` varchar(64) DEFAULT NULL,
  `ex` varchar(1024) DEFAULT NULL,
  `create_time` datetime(3) DEFAULT NULL,
  `app_manger_level` int(11) DEFAULT NULL,
  `global_recv_msg_opt` int(11) DEFAULT NULL,
  PRIMARY KEY (`user_id`),
  KEY `create_time` (`create_time`)
)
"""
COLUMNS = (
    "user_id",
    "name",
    "face_url",
    "gender",
    "phone_number",
    "birth",
    "email",
    "ex",
    "create_time",
    "app_manger_level",
    "global_recv_msg_opt",
)
LONG_NAME = "长" * 100
OPENIM_ROWS = [
    (
        "openim-001",
        "张伟",
        "https://im.example.cn/face/001.png",
        1,
        "13800000000",
        "1990-05-17 00:00:00",
        "zw@example.cn",
        '{"dept":"研发"}',
        "2022-02-24 04:01:44.123",
        0,
        0,
    ),
    ("emoji😀", "🎉派对🎉", "", 2, "", "2000-01-01 12:00:00.000", "", "", "2023-03-01 00:00:00", 1, 1),
    ("nulls", "Nulls", None, None, None, None, None, None, None, None, None),
    ("zero-dates", "Zero", "", 0, "", "0000-00-00 00:00:00", "", "", "0000-00-00 00:00:00", 0, 0),
    ("long-name", LONG_NAME, "", 0, "", None, "", "", "2022-01-01 00:00:00", 0, 0),
    ("openIMAdmin", "Admin", "", 0, "", None, "", "", "2021-12-01 10:00:00", 2, 0),
    ("admin-2", "第二管理员", "", 1, "", None, "", "", "2021-12-02 10:00:00", 2, 0),
    ("bot-weather", "天气机器人 🤖", "", 0, "", None, "", '{"bot":true}', "2022-06-01 00:00:00", 4, 2),
]
BULK_ROWS = 1500  # more than one page of the reader
MANAGERS = ["admin-2", "openIMAdmin"]  # in userID order (utf8mb4_general_ci)


def openim_rows() -> list[tuple]:
    bulk = [
        (f"u{number:06d}", f"用户{number}", "", number % 3, "", None, "", "", "2022-05-05 05:05:05", 0, 0)
        for number in range(BULK_ROWS)
    ]
    return OPENIM_ROWS + bulk


def create_openim_database(url: str, rows: list[tuple]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            # OpenIM's servers ran without the strict modes that refuse zero dates.
            connection.execute(text("SET SESSION sql_mode = ''"))
            connection.execute(text(OPENIM_USERS_DDL))
            insert = text(
                f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + name for name in COLUMNS)})"
            )
            connection.execute(insert, [dict(zip(COLUMNS, row, strict=True)) for row in rows])
    finally:
        engine.dispose()


@pytest.fixture
def openim_url():
    with empty_scratch_database() as url:
        create_openim_database(url, openim_rows())
        yield url


@pytest.fixture
def small_openim(request):
    """An OpenIM database holding only `request.param`'s rows."""
    with empty_scratch_database() as url:
        create_openim_database(url, request.param)
        yield url


def import_openim(runner, url, *options):
    return runner.invoke(args=["users", "import-openim", url, *options])


def expected_created_at(text_value: str) -> datetime:
    value = datetime.fromisoformat(text_value)
    # This service's MariaDB column holds whole seconds; SQLite keeps the milliseconds.
    return value.replace(microsecond=0) if is_mysql(TEST_DATABASE_URL) else value


def test_import_openim_keeps_every_field_and_refuses_a_long_nickname(app, runner, openim_url):
    result = import_openim(runner, openim_url)
    assert result.exit_code == 1, result.output
    total = len(OPENIM_ROWS) + BULK_ROWS
    assert summary_of(result) == (total - 1, 0, 1)
    assert re.findall(r"userID (\S+): (.*)", result.stderr) == [
        ("long-name", "nickname: Length must be between 1 and 64.")
    ]
    assert stored(app, "long-name") is None
    assert user_count(app) == total - 1

    first = stored(app, "openim-001")
    assert (first.nickname, first.face_url, first.gender, first.phone_number, first.email, first.ex) == (
        "张伟",
        "https://im.example.cn/face/001.png",
        1,
        "13800000000",
        "zw@example.cn",
        '{"dept":"研发"}',
    )
    assert first.birth == 642902400  # 1990-05-17T00:00:00Z
    assert first.created_at == expected_created_at("2022-02-24 04:01:44.123")
    assert (first.app_manger_level, first.global_recv_msg_opt) == (0, 0)
    # No request can carry an empty operationID: no client's register is ever a retry of the import.
    assert first.operation_id == ""

    emoji = stored(app, "emoji😀")
    assert (emoji.nickname, emoji.birth, emoji.gender, emoji.app_manger_level, emoji.global_recv_msg_opt) == (
        "🎉派对🎉",
        946728000,
        2,
        1,
        1,
    )

    nulls = stored(app, "nulls")
    assert (nulls.face_url, nulls.gender, nulls.phone_number, nulls.birth, nulls.email, nulls.ex) == (
        "",
        0,
        "",
        0,
        "",
        "",
    )
    assert (nulls.app_manger_level, nulls.global_recv_msg_opt) == (0, 0)
    zero = stored(app, "zero-dates")
    assert zero.birth == 0
    for user in (nulls, zero):  # no create_time: the time of the import
        assert abs((user.created_at - utc_now()).total_seconds()) < 600

    bot = stored(app, "bot-weather")
    assert (bot.nickname, bot.app_manger_level, bot.global_recv_msg_opt, bot.ex) == (
        "天气机器人 🤖",
        4,
        2,
        '{"bot":true}',
    )
    assert stored(app, "openIMAdmin").app_manger_level == 2
    assert stored(app, f"u{BULK_ROWS - 1:06d}").nickname == f"用户{BULK_ROWS - 1}"

    assert "OpenIM's app managers (appMangerLevel 2): admin-2, openIMAdmin" in result.stdout
    # The variable one sets: app/config.py reads FLASK_-prefixed settings from the environment.
    assert """ FLASK_OPENIM_MANAGER_UIDS='["admin-2","openIMAdmin"]'""" in result.stdout


def test_import_openim_truncates_long_nicknames_when_asked_and_skips_existing_users(app, runner, openim_url):
    result = import_openim(runner, openim_url, "--truncate-nicknames")
    assert result.exit_code == 0, result.output
    total = len(OPENIM_ROWS) + BULK_ROWS
    assert summary_of(result) == (total, 0, 0)
    assert stored(app, "long-name").nickname == "长" * 64

    again = import_openim(runner, openim_url, "--truncate-nicknames")
    assert again.exit_code == 0
    assert summary_of(again) == (0, total, 0)


def test_a_client_registering_an_imported_user_is_refused_not_taken_for_a_retry(app, client, runner, openim_url):
    assert import_openim(runner, openim_url).exit_code == 1  # the long nickname
    for operation_id in ("import", "openim", "op-1"):
        body = {
            "secret": SECRET,
            "platform": 1,
            "userID": "openim-001",
            "nickname": "Other",
            "operationID": operation_id,
        }
        assert client.post("/auth/user_register", json=body).json["errCode"] == 1102
    assert stored(app, "openim-001").nickname == "张伟"


@pytest.mark.parametrize(
    "small_openim",
    [
        [
            ("no-name", None, "", 0, "", None, "", "", None, 0, 0),
            ("born-1960", "Old", "", 0, "", "1960-01-01 00:00:00", "", "", None, 0, 0),
            ("odd-gender", "Odd", "", 7, "", None, "", "", None, 0, 0),
            ("level-9", "Nine", "", 0, "", None, "", "", None, 9, 0),
            ("half-zero", "Half", "", 0, "", "2000-00-00 00:00:00", "", "", None, 0, 0),
            (" spaced", "Spaced", "", 0, "", None, "", "", None, 0, 0),
            ("fine", "Fine", "", 0, "", None, "", "", None, 0, 0),
        ]
    ],
    indirect=True,
)
def test_rows_the_rules_refuse_are_named_by_user_id(app, runner, small_openim):
    result = import_openim(runner, small_openim)
    assert result.exit_code == 1
    assert summary_of(result) == (1, 0, 6)
    reasons = dict(re.findall(r"userID (.+?): (.*)", result.stderr))
    assert reasons["no-name"].startswith("nickname:")
    assert reasons["born-1960"].startswith("birth:")
    assert reasons["odd-gender"].startswith("gender:")
    assert reasons["level-9"].startswith("appMangerLevel:")
    assert reasons["half-zero"].startswith("not a date:")
    assert reasons[" spaced"].startswith("userID:")
    assert "app managers" not in result.output


@pytest.mark.parametrize(
    "small_openim",
    [[("shanghai", "SH", "", 0, "", "2000-01-01 08:00:00", "", "", "2022-02-24 12:01:44", 2, 0)]],
    indirect=True,
)
def test_times_are_read_in_the_openim_servers_time_zone(app, runner, small_openim):
    result = import_openim(runner, small_openim, "--timezone", "Asia/Shanghai")
    assert result.exit_code == 0, result.output
    user = stored(app, "shanghai")
    assert user.birth == 946684800  # 2000-01-01T00:00:00Z
    assert user.created_at == datetime(2022, 2, 24, 4, 1, 44)


def test_an_unknown_time_zone_is_a_usage_error(runner):
    result = runner.invoke(args=["users", "import-openim", "mysql+pymysql://x@127.0.0.1/db", "--timezone", "Mars/Base"])
    assert result.exit_code == 2
    assert "Mars/Base" in result.output


@pytest.mark.parametrize(
    "url", ["mysql+pymysql://root@127.0.0.1:1/openim_v2", "no-such-scheme://x", "mysql+pymysql://root@127.0.0.1/"]
)
def test_an_unreadable_openim_database_is_an_error(app, runner, url):
    result = import_openim(runner, url)
    assert result.exit_code == 1
    assert "cannot read the OpenIM database" in result.output
    assert user_count(app) == 0


PASSWORD = "hunter2-Secret"
# Every way a typed URL can fail, each with a password that must not be shown.
UNREADABLE_URLS = [
    f"postgresql://u:{PASSWORD}@127.0.0.1/openim_v2",  # a driver that is not installed
    f"oracle://u:{PASSWORD}@127.0.0.1/openim_v2",
    f"mysql://u:{PASSWORD}@127.0.0.1/openim_v2",  # mysqlclient, not installed
    f"no-such-scheme://u:{PASSWORD}@x",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?connect_timeout=abc",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1:port/openim_v2",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1:1/openim_v2",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?ssl_ca=/no/such/ca.pem",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?no_such_option=1",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?ssl=true",  # PyMySQL wants a dict
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?conv=1",
    f"mysql+pymysql://u:{PASSWORD}@127.0.0.1/openim_v2?charset=no-such-charset",
    f"mysql+pymysql://u:{PASSWORD}@[::1/openim_v2",
    "sqlite:////etc/passwd",  # not a database
    "sqlite:////no/such/folder/openim.db",
    "sqlite://",  # a database without OpenIM's table
    "",
    "not a URL at all",
]


@pytest.mark.parametrize("url", UNREADABLE_URLS)
def test_any_url_that_cannot_be_read_is_one_line_without_the_password(app, runner, url):
    result = import_openim(runner, url)
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: cannot read the OpenIM database"), line
    assert PASSWORD not in line and "Traceback" not in line
    assert user_count(app) == 0


def test_the_reader_pages_through_the_table_and_counts_what_it_read(openim_url):
    total = len(OPENIM_ROWS) + BULK_ROWS
    with OpenImUsers(openim_url, zone=ZoneInfo("UTC"), page_size=400) as source:
        selects = []
        event.listen(source.engine, "before_cursor_execute", lambda *args: selects.append(source.read))
        assert source.count() == total
        user_ids = [user_id for user_id, _ in source.rows()]
        assert source.read == total
        assert source.managers == MANAGERS
    assert len(user_ids) == len(set(user_ids)) == total
    # The count, then a page of 400 each time the rows read so far reach a multiple of it, then the empty page.
    assert selects == [0, 0, 400, 800, 1200, total]


class RecordedProgressBar:
    """Stands in for click.progressbar: notes its length and every update."""

    made = []

    def __init__(self, length, **options):
        self.length, self.updates, self.pos = length, [], 0
        RecordedProgressBar.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def update(self, steps):
        self.updates.append(steps)
        self.pos += steps


def test_a_progress_bar_on_a_terminal_runs_to_the_row_count(app, runner, openim_url, monkeypatch):
    monkeypatch.setattr(cli, "on_terminal", lambda: True)
    monkeypatch.setattr(cli.click, "progressbar", RecordedProgressBar)
    RecordedProgressBar.made.clear()
    result = import_openim(runner, openim_url, "--truncate-nicknames", "--batch-size", "500")
    assert result.exit_code == 0, result.output
    [bar] = RecordedProgressBar.made
    total = len(OPENIM_ROWS) + BULK_ROWS
    assert bar.length == total
    assert sum(bar.updates) == total
    assert len(bar.updates) == 4  # one per batch of 500: 1508 rows
