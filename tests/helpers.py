"""What the tests share: the test configuration, request bodies, and `Api`.

`Api` wraps a Flask test client the way flaskr's `AuthActions` does, so a test
reads as the calls it makes: `token = api.register("alice")`, then
`api.parse_code(token) == 0`. The `try_` methods answer the response itself
(status code and envelope) for the tests about failures. The gunicorn-side
counterpart for real round trips is `tests.http.server.Server`.
"""

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.extensions import db
from app.rules import users
from app.rules.users import find_user
from app.storage.models import User
from app.storage.sqlite_writes import LOCK_FILE_SUFFIX
from app.web.v2.schemas import register_schema

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SECRET = "test-api-secret-0123456789abcdef"
TOKEN_SECRET = "test-token-secret-0123456789abcdef"
# 2022-02-24T04:01:44Z, the iat of the seed's first example token.
FIXED_NOW = 1645675304


def base_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "OPENIM_SECRET": SECRET,
        "OPENIM_TOKEN_SECRET": TOKEN_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
    }


def is_mysql(url: str | None) -> bool:
    return bool(url) and url.startswith(("mysql", "mariadb"))


def register_body(
    user_id: str, platform: int = 1, operation_id: str = "op-register", secret: str = SECRET, **profile
) -> dict:
    """A user_register body: the required fields, then any profile fields (faceURL=…, ex=…)."""
    return {
        "secret": secret,
        "platform": platform,
        "userID": user_id,
        "nickname": "n",
        "operationID": operation_id,
        **profile,
    }


def token_body(user_id: str, platform: int = 1, operation_id: str = "op-token", secret: str = SECRET) -> dict:
    return {"secret": secret, "platform": platform, "userID": user_id, "operationID": operation_id}


# The smallest valid user_register body.
MINIMAL_BODY = register_body("u1", operation_id="op1")


class Api:
    """The service's routes called through a Flask test client (`api` fixture, or `Api(app.test_client())`)."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, body: dict | str | bytes | None, headers: dict | None = None) -> TestResponse:
        """Any route with any body: a dict goes as JSON, str or bytes as they are."""
        if isinstance(body, (str, bytes)):
            return self.client.post(path, data=body, headers=headers)
        return self.client.post(path, json=body, headers=headers)

    def try_register(self, user_id: str, platform: int = 1, **fields) -> TestResponse:
        """user_register with `register_body`'s fields (operation_id=, secret=, profile…); the response."""
        return self.post("/auth/user_register", register_body(user_id, platform, **fields))

    def register(self, user_id: str, platform: int = 1, **fields) -> str:
        """Register a user, which must succeed; the token the answer carries."""
        return token_of(self.try_register(user_id, platform, **fields))

    def register_manager(self, user_id: str, platform: int = 1, **fields) -> str:
        """Register a userID of OPENIM_MANAGER_UIDS as an operator does (the API refuses it); its v2 token."""
        body = register_body(user_id, platform, **fields)
        with self.client.application.app_context():
            profile = register_schema.load_wire(body, None)
            for field in ("secret", "platform", "operation_id"):
                profile.pop(field)
            users.register(profile, body["operationID"], by_operator=True)
        return self.user_token(user_id, platform)

    def try_user_token(self, user_id: str, platform: int = 1, **fields) -> TestResponse:
        return self.post("/auth/user_token", token_body(user_id, platform, **fields))

    def user_token(self, user_id: str, platform: int = 1, **fields) -> str:
        """A token of a registered user, which must be issued."""
        return token_of(self.try_user_token(user_id, platform, **fields))

    def parse(self, token: str | None) -> TestResponse:
        """parse_token with `token` in its header (none when None)."""
        headers = {} if token is None else {"token": token}
        return self.post("/auth/parse_token", {"operationID": "parse"}, headers)

    def parse_code(self, token: str | None) -> int:
        """parse_token's errCode; any refusal must come as HTTP 401."""
        response = self.parse(token)
        if response.json["errCode"] != 0:
            assert response.status_code == 401
        return response.json["errCode"]

    def force_logout(
        self, user_id: str, platform: int = 1, token: str | None = None, secret: str | None = None
    ) -> TestResponse:
        """force_logout by a manager's token, the API secret, both or neither."""
        body = {"platform": platform, "fromUserID": user_id, "operationID": "logout"}
        if secret is not None:
            body["secret"] = secret
        return self.post("/auth/force_logout", body, {} if token is None else {"token": token})


def token_of(response: TestResponse) -> str:
    answer = response.json
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]


# --- the admin CLI: `flask users …` results and stored users -----------------------------

SUMMARY = re.compile(r"created (\d+), already there (\d+), invalid (\d+)")


def stored(app, user_id: str) -> User | None:
    with app.app_context():
        return find_user(user_id)


def user_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(User)).scalar_one()


def summary_of(result) -> tuple[int, int, int]:
    created, existing, invalid = SUMMARY.search(result.output).groups()
    return int(created), int(existing), int(invalid)


def invalid_lines(result) -> dict[int, str]:
    return {int(number): reason for number, reason in re.findall(r"line (\d+): (.*)", result.stderr)}


def import_file(runner, tmp_path, content: str | bytes, *options: str, name: str = "users.csv"):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return runner.invoke(args=["users", "import", str(path), *options])


# --- users with every field at its edges, for export and import round trips ----------------

users_table = User.__table__
START = datetime(2021, 6, 1, 8, 30, 15, 123456)

# Users that the export must carry exactly: every field at its edges.
SPECIAL_USERS = [
    {"user_id": "用户-中文", "nickname": "张伟🙂", "ex": '{"城市": "北京"}', "gender": 1, "email": "张@例子.中国"},
    {"user_id": "😀🎉", "nickname": "😀" * 64, "face_url": "https://例え.jp/" + "😀" * 200, "gender": 2},
    {"user_id": "empty-optionals", "nickname": "E"},
    {
        "user_id": "m" * 64,
        "nickname": "n" * 64,
        "face_url": "f" * 1024,
        "gender": 2,
        "phone_number": "1" * 32,
        "birth": 4294967295,
        "email": "e" * 64,
        "ex": "x" * 1024,
        "operation_id": "o" * 64,
        "app_manger_level": 4,
        "global_recv_msg_opt": 2,
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
        rows.append(
            {
                "user_id": f"bulk-{number:05d}",
                "nickname": f"用户 {number}",
                "gender": number % 3,
                "birth": number * 86400,
                "phone_number": f"+86 138 {number:08d}",
                "operation_id": f"register-{number}",
                "created_at": START + timedelta(milliseconds=number * 1001, microseconds=number),
            }
        )
    return rows


EMPTY_OPTIONALS = {
    "face_url": "",
    "gender": 0,
    "phone_number": "",
    "birth": 0,
    "email": "",
    "ex": "",
    "app_manger_level": 0,
    "global_recv_msg_opt": 0,
}


def table_rows(app) -> list[tuple]:
    """Every stored user, all columns, created_at to the millisecond, in userID order."""
    with app.app_context():
        rows = db.session.execute(select(users_table).order_by(users_table.c.user_id)).mappings().all()
    return sorted(
        tuple(
            {
                **row,
                "created_at": row["created_at"].replace(microsecond=row["created_at"].microsecond // 1000 * 1000),
            }.items()
        )
        for row in rows
    )


# --- log lines and stuck writers ---------------------------------------------------------

REQUEST_LINE = re.compile(
    r'operationID=(?P<operation_id>"(?:[^"\\]|\\.)*") route=(?P<route>\S+) '
    r"errCode=(?P<err_code>-?\d+) duration=\d+\.\dms"
)


def request_lines(caplog) -> list[re.Match]:
    return [
        match
        for record in caplog.records
        if record.name == "app.web.request_log" and (match := REQUEST_LINE.fullmatch(record.getMessage()))
    ]


@contextmanager
def held_by_another_process(program: str, *arguments: str):
    """Run `program` (Python, which prints 'held' once it holds its lock) in another process until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", program, *arguments], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def lock_file_held(database_path, seconds: float = 120):
    """Another process holds the database's lock file (a stuck writer) until the block ends."""
    return held_by_another_process(
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(float(sys.argv[2]))",
        f"{database_path}{LOCK_FILE_SUFFIX}",
        str(seconds),
    )
