"""The floor: user_token and user_register as bare WSGI, for `bench/run.py`.

No Flask, no ORM, no marshmallow: stdlib json, hmac, hashlib and sqlite3 (or
pymysql). It does the work the service must do and nothing more: parse the
JSON body (keys case-insensitive, as Go), validate, compare the secret in
constant time, look up or insert the user, mint the same HS256 JWT as
app/jwt_tokens.py mint_token and record its SHA-256 in token_records.

Served as `gunicorn -c gunicorn.conf.py bench.floor:app`; configured by the
same FLASK_OPENIM_SECRET / FLASK_OPENIM_TOKEN_SECRET / FLASK_SQLALCHEMY_DATABASE_URI
environment as the service.
"""

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
import unicodedata
from urllib.parse import unquote, urlparse

PLATFORMS = {1: "IOS", 2: "Android", 3: "Windows", 4: "OSX", 5: "Web", 6: "MiniWeb", 7: "Linux", 8: "APad", 9: "IPad"}
HEADER = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}
GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})
DAY = 86400
MAX_BODY = 65536
# The service's token_records (app/migrations/versions/0004_bounded_token_records.py); created
# here only when the database has not got it.
TOKEN_TABLE = [
    "CREATE TABLE IF NOT EXISTS token_records (token_hash {binary} NOT NULL PRIMARY KEY,"
    " user_id VARCHAR(64) NOT NULL, platform SMALLINT NOT NULL, status VARCHAR(8) NOT NULL,"
    " issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE INDEX {if_not_exists} ix_token_records_user_platform_status_expiry"
    " ON token_records (user_id, platform, status, expires_at)",
    "CREATE INDEX {if_not_exists} ix_token_records_expires_at ON token_records (expires_at)",
]
USER_INSERT = (
    "INSERT INTO users (user_id, nickname, face_url, gender, phone_number, birth, email, ex,"
    " operation_id, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
# As the service records: one record per distinct token (an upsert), and for
# user_token only while the user exists (INSERT ... SELECT, the user's row locked).
TOKEN_UPSERT = {
    "sqlite": " ON CONFLICT (token_hash) DO UPDATE SET status = 'normal'",
    "mysql": " ON DUPLICATE KEY UPDATE status = 'normal'",
}
TOKEN_INSERT = (
    "INSERT INTO token_records (token_hash, user_id, platform, status, issued_at, expires_at)"
    " VALUES ({p}, {p}, {p}, 'normal', {p}, {p}){upsert}"
)
TOKEN_INSERT_OF_USER = (
    "INSERT INTO token_records (token_hash, user_id, platform, status, issued_at, expires_at)"
    " SELECT {p}, user_id, {p}, 'normal', {p}, {p} FROM users WHERE user_id = {p}{lock}{upsert}"
)
# The per-platform bound (OPENIM_MAX_TOKENS_PER_PLATFORM, 30): a count from the index; past it,
# the live records beyond the 29 newest others.
BOUND_COUNT = (
    "SELECT count(*) FROM token_records WHERE user_id = {p} AND platform = {p} AND status = 'normal'"
    " AND expires_at > {p}"
)
BOUND_SELECT = (
    "SELECT token_hash FROM token_records WHERE user_id = {p} AND platform = {p} AND status = 'normal'"
    " AND expires_at > {p} AND token_hash != {p} ORDER BY expires_at DESC LIMIT 1000 OFFSET 29"
)
BOUND_KICK = "UPDATE token_records SET status = 'kicked' WHERE status = 'normal' AND token_hash IN ({hashes})"
# Register's optional fields: (JSON key folded, column, kind, max length).
OPTIONAL = [
    ("faceurl", "face_url", str, 1024),
    ("gender", "gender", int, None),
    ("phonenumber", "phone_number", str, 32),
    ("birth", "birth", int, None),
    ("email", "email", str, 64),
    ("ex", "ex", str, 1024),
]

SECRET = os.environ.get("FLASK_OPENIM_SECRET", "").encode()
TOKEN_KEY = os.environ.get("FLASK_OPENIM_TOKEN_SECRET", "").encode()
EXPIRE_DAYS = int(os.environ.get("FLASK_OPENIM_TOKEN_EXPIRE_DAYS", "7"))
DATABASE_URL = os.environ.get("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite:///floor.db")


def b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def mint(user_id: str, platform: int, key: bytes, expire_days: int, now: int) -> tuple[str, int]:
    """(token, exp): the very bytes of app.jwt_tokens.mint_token."""
    exp = now + expire_days * DAY
    payload = json.dumps(
        {"UID": user_id, "Platform": PLATFORMS[platform], "exp": exp, "nbf": now, "iat": now},
        ensure_ascii=False,
        separators=(",", ":"),
    ).translate(GO_ESCAPES)
    signing_input = HEADER + b"." + b64url(payload.encode())
    return (signing_input + b"." + b64url(hmac.new(key, signing_input, hashlib.sha256).digest())).decode(), exp


class Database:
    """One connection per worker process, opened at its first request."""

    def __init__(self, url: str):
        self.url, self.conn = url, None
        # Ready before the first connection: a worker's first request may be a register.
        sqlite = url.startswith("sqlite")
        self.param = p = "?" if sqlite else "%s"
        upsert = TOKEN_UPSERT["sqlite" if sqlite else "mysql"]
        self.user_insert = USER_INSERT.format(p=p)
        self.token_insert = TOKEN_INSERT.format(p=p, upsert=upsert)
        lock = "" if sqlite else " FOR UPDATE"
        self.token_insert_of_user = TOKEN_INSERT_OF_USER.format(p=p, lock=lock, upsert=upsert)
        self.bound_count = BOUND_COUNT.format(p=p)
        self.bound_select = BOUND_SELECT.format(p=p)

    def connect(self):
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.split("///", 1)[1], timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            binary, if_not_exists = "BLOB", "IF NOT EXISTS"
        else:
            import pymysql
            import pymysql.constants

            u = urlparse(self.url)
            conn = pymysql.connect(
                host=u.hostname,
                port=u.port or 3306,
                user=unquote(u.username or "root"),
                password=unquote(u.password or ""),
                database=u.path.lstrip("/"),
                charset="utf8mb4",
                autocommit=True,
                # An upsert that changes nothing counts 1 row, not 0 (as SQLAlchemy sets).
                client_flag=pymysql.constants.CLIENT.FOUND_ROWS,
            )
            binary, if_not_exists = "BINARY(32)", "IF NOT EXISTS"  # MariaDB's; MySQL has none
        for statement in TOKEN_TABLE:
            conn.cursor().execute(statement.format(binary=binary, if_not_exists=if_not_exists))
        self.conn = conn
        return conn

    def transaction(self, statements, bound: tuple | None = None) -> bool:
        """Run (sql, params) pairs in one transaction, the last the token's record; False when it
        recorded nothing (no such user) or on a duplicate key. Then the bound's check, given
        (user_id, platform, now, token_hash)."""
        conn = self.conn or self.connect()
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            for sql, params in statements:
                cur.execute(sql, params)
            if cur.rowcount == 0:
                cur.execute("ROLLBACK")
                return False
            if bound is not None:
                cur.execute(self.bound_count, bound[:3])
                if cur.fetchone()[0] > 30:
                    cur.execute(self.bound_select, bound)
                    beyond = [row[0] for row in cur.fetchall()]
                    cur.execute(BOUND_KICK.format(hashes=", ".join([self.param] * len(beyond))), beyond)
        except Exception as exc:
            cur.execute("ROLLBACK")
            if "UNIQUE" in str(exc) or getattr(exc, "args", (0,))[0] == 1062:
                return False
            raise
        cur.execute("COMMIT")
        return True


db = Database(DATABASE_URL)


class Answer(Exception):
    def __init__(self, status: str, err_code: int, err_msg: str):
        self.status, self.err_code, self.err_msg = status, err_code, err_msg


def text(body: dict, key: str, low: int, high: int, required: bool = True):
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise Answer("400 Bad Request", 400, f"{key}: bad value")
    return value


def integer(body: dict, key: str, low: int, high: int, required: bool = True):
    value = body.get(key)
    if value is None and not required:
        return None
    if type(value) is not int or not low <= value <= high:
        raise Answer("400 Bad Request", 400, f"{key}: bad value")
    return value


def common(environ) -> tuple[dict, int, str]:
    """Body folded to lower-case keys, checked platform and userID, secret checked."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        raise Answer("413 Request Entity Too Large", 400, "request body too large")
    try:
        raw = json.loads(environ["wsgi.input"].read(length).decode())
    except ValueError:
        raise Answer("400 Bad Request", 400, "body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise Answer("400 Bad Request", 400, "body must be a JSON object")
    body = {key.lower(): value for key, value in raw.items()}
    if "operationid" not in body and "HTTP_OPERATIONID" in environ:
        body["operationid"] = environ["HTTP_OPERATIONID"]
    secret = text(body, "secret", 0, 256)
    platform = integer(body, "platform", 1, 9)
    user_id = text(body, "userid", 1, 64)
    if any(unicodedata.category(c) == "Cc" for c in user_id) or user_id[0].isspace() or user_id[-1].isspace():
        raise Answer("400 Bad Request", 400, "userID: bad value")
    text(body, "operationid", 1, 64)
    if not hmac.compare_digest(secret.encode(), SECRET):
        raise Answer("401 Unauthorized", 401, "secret mismatch")
    return body, platform, user_id


def issue(user_id: str, platform: int, statements: list, refusal: Answer) -> dict:
    now = int(time.time())
    token, exp = mint(user_id, platform, TOKEN_KEY, EXPIRE_DAYS, now)
    token_hash = hashlib.sha256(token.encode()).digest()
    if statements:  # a registration: the user is inserted in this transaction
        statements.append((db.token_insert, (token_hash, user_id, platform, now, exp)))
    else:
        statements.append((db.token_insert_of_user, (token_hash, platform, now, exp, user_id)))
    if not db.transaction(statements, bound=(user_id, platform, now, token_hash)):
        raise refusal
    return {"userID": user_id, "token": token, "expiredTime": exp}


def user_token(environ) -> dict:
    _, platform, user_id = common(environ)
    return issue(user_id, platform, [], Answer("404 Not Found", 1101, "user not registered"))


def user_register(environ) -> dict:
    body, platform, user_id = common(environ)
    nickname = text(body, "nickname", 1, 64)
    body.setdefault("phonenumber", body.get("phonenum"))
    row = {"face_url": "", "gender": 0, "phone_number": "", "birth": 0, "email": "", "ex": ""}
    for key, column, kind, high in OPTIONAL:
        value = text(body, key, 0, high, False) if kind is str else integer(body, key, 0, 4294967295, False)
        if value is not None:
            row[column] = value
    if row["gender"] not in (0, 1, 2):
        raise Answer("400 Bad Request", 400, "gender: bad value")
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    params = (
        user_id,
        nickname,
        row["face_url"],
        row["gender"],
        row["phone_number"],
        row["birth"],
        row["email"],
        row["ex"],
        body["operationid"],
        created,
    )
    duplicate = Answer("409 Conflict", 1102, "userID already registered")
    return issue(user_id, platform, [(db.user_insert, params)], duplicate)


ROUTES = {"/auth/user_token": user_token, "/auth/user_register": user_register}


def app(environ, start_response):
    view = ROUTES.get(environ.get("PATH_INFO", ""))
    try:
        if view is None:
            raise Answer("404 Not Found", 404, "unknown route")
        if environ["REQUEST_METHOD"] != "POST":
            raise Answer("405 Method Not Allowed", 405, "method not allowed")
        status, answer = "200 OK", {"errCode": 0, "errMsg": "", "data": view(environ)}
    except Answer as exc:
        status, answer = exc.status, {"errCode": exc.err_code, "errMsg": exc.err_msg, "data": None}
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).translate(GO_ESCAPES).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
