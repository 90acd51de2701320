"""POST /auth/parse_token (docs/api-v2.md): every 70x produced for real, and the token records behind it."""

import base64
import hashlib
import json
import warnings

import flask_migrate
import jwt
import pymysql
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app import create_app
from app.extensions import db
from app.jwt_tokens import mint_token
from app.openim import SECONDS_PER_DAY
from app.rules import tokens
from app.storage import token_records
from app.storage.models import TokenRecord, TokenStatus
from tests.helpers import FIXED_NOW, TOKEN_SECRET, Api, base_config

WEEK = 7 * SECONDS_PER_DAY
CLAIMS = {"UID": "alice", "Platform": "IOS", "exp": FIXED_NOW + WEEK, "nbf": FIXED_NOW, "iat": FIXED_NOW}


@pytest.fixture
def timed_app(make_app, clock):
    return make_app(OPENIM_CLOCK=clock)


@pytest.fixture
def timed_client(timed_app):
    return timed_app.test_client()


@pytest.fixture
def timed_api(timed_client):
    return Api(timed_client)


def test_a_valid_token_answers_its_owner_platform_and_expiry(timed_api):
    timed_api.register("alice")
    token = timed_api.user_token("alice", platform=5)
    response = timed_api.parse(token)
    assert response.status_code == 200
    assert response.json == {
        "errCode": 0,
        "errMsg": "",
        "data": {"ExpireTimeSeconds": FIXED_NOW + WEEK, "userID": "alice", "platformID": 5, "platform": "Web"},
    }


def test_operation_id_may_come_as_a_header(timed_client, timed_api):
    token = timed_api.register("alice")
    response = timed_client.post("/auth/parse_token", json={}, headers={"token": token, "operationID": "h"})
    assert response.json["errCode"] == 0
    assert timed_client.post("/auth/parse_token", json={}, headers={"token": token}).json["errCode"] == 400


@pytest.mark.parametrize("garbage", [None, "", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.!!!.x"])
def test_missing_or_malformed_token_is_703(timed_api, garbage):
    assert timed_api.parse_code(garbage) == 703


def test_expired_at_exp_through_the_clock_is_701(timed_api, clock):
    token = timed_api.register("alice")
    clock.now = FIXED_NOW + WEEK - 1
    assert timed_api.parse_code(token) == 0
    clock.now = FIXED_NOW + WEEK
    assert timed_api.parse_code(token) == 701


def test_not_yet_valid_is_704(timed_api, clock):
    token = timed_api.register("alice")
    clock.now = FIXED_NOW - 1
    assert timed_api.parse_code(token) == 704


def test_right_key_but_never_issued_is_705(timed_api):
    timed_api.register("alice")
    forged = mint_token("alice", 1, TOKEN_SECRET, 7, FIXED_NOW - 10).token
    assert timed_api.parse_code(forged) == 705


def test_wrong_key_is_705(timed_api):
    timed_api.register("alice")
    assert timed_api.parse_code(mint_token("alice", 1, "another-key-0123456789", 7, FIXED_NOW).token) == 705


def test_kicked_is_706(timed_app, timed_api):
    token = timed_api.register("alice")
    with timed_app.app_context():
        assert tokens.kick("alice", 1) == 1
    assert timed_api.parse_code(token) == 706


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_right_key_are_705(timed_api, algorithm):
    timed_api.register("alice")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the key is shorter than SHA-512's
        token = jwt.encode(CLAIMS, TOKEN_SECRET, algorithm=algorithm)
    assert timed_api.parse_code(token) == 705


def test_alg_none_is_705(timed_api):
    timed_api.register("alice")
    assert timed_api.parse_code(jwt.encode(CLAIMS, None, algorithm="none")) == 705


def test_changed_payload_is_705(timed_api):
    token = timed_api.register("alice")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps(dict(claims, UID="admin"), separators=(",", ":")).encode()
    forged_payload = base64.urlsafe_b64encode(changed).rstrip(b"=").decode()
    assert timed_api.parse_code(f"{header}.{forged_payload}.{signature}") == 705


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_missing_claim_with_the_right_key_is_703(timed_api, claim):
    claims = {name: value for name, value in CLAIMS.items() if name != claim}
    assert timed_api.parse_code(jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")) == 703


def test_mistyped_claim_is_703(timed_api):
    assert timed_api.parse_code(jwt.encode(dict(CLAIMS, exp="soon"), TOKEN_SECRET, algorithm="HS256")) == 703


def test_expiry_is_checked_before_the_record(timed_app, timed_api, clock):
    token = timed_api.register("alice")
    with timed_app.app_context():
        tokens.kick("alice")
    never_issued = mint_token("alice", 1, TOKEN_SECRET, 7, FIXED_NOW - 5).token
    clock.now = FIXED_NOW + WEEK
    assert timed_api.parse_code(token) == 701
    assert timed_api.parse_code(never_issued) == 701


def test_records_hold_the_sha256_never_the_token(timed_app, timed_api):
    token = timed_api.register("alice", platform=2)
    with timed_app.app_context():
        records = db.session.execute(select(TokenRecord)).scalars().all()
        assert len(records) == 1
        record = records[0]
        assert record.token_hash == hashlib.sha256(token.encode()).digest()
        assert (record.user_id, record.platform, record.status) == ("alice", 2, TokenStatus.normal)
        assert (record.issued_at, record.expires_at) == (FIXED_NOW, FIXED_NOW + WEEK)
        stored = [getattr(record, column.key) for column in TokenRecord.__table__.columns]
        assert all(token not in str(value) for value in stored)


def test_cli_tokens_are_recorded(timed_app, timed_api):
    timed_api.register("alice")
    result = timed_app.test_cli_runner().invoke(args=["users", "token", "alice", "--platform", "3"])
    assert result.exit_code == 0, result.output
    assert timed_api.parse(result.output.strip()).json["data"]["platform"] == "Windows"


def record_count(app) -> int:
    with app.app_context():
        return len(db.session.execute(select(TokenRecord.token_hash)).all())


def test_issuing_prunes_records_expired_past_the_grace(timed_app, timed_api, clock, monkeypatch):
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 1)
    first = timed_api.register("alice")
    clock.now = FIXED_NOW + 1
    second = timed_api.user_token("alice")
    clock.now = FIXED_NOW + WEEK + token_records.PRUNE_GRACE_SECONDS - 1
    third = timed_api.user_token("alice")
    assert record_count(timed_app) == 3  # expired, but within the grace period
    clock.now = FIXED_NOW + WEEK + token_records.PRUNE_GRACE_SECONDS
    fresh = timed_api.user_token("alice")
    with timed_app.app_context():  # the first went; the second, a second younger, stays
        stored = set(db.session.execute(select(TokenRecord.token_hash)).scalars())
    assert stored == {hashlib.sha256(token.encode()).digest() for token in (second, third, fresh)}
    assert first not in (second, third, fresh)
    assert timed_api.parse_code(fresh) == 0


def test_issuing_does_not_prune_between_the_rounds(timed_app, timed_api, clock, monkeypatch):
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 10**9)
    timed_api.register("alice")
    clock.now = FIXED_NOW + 10 * WEEK
    timed_api.user_token("alice")
    assert record_count(timed_app) == 2


def test_a_failing_prune_does_not_fail_the_issue(timed_app, timed_api, monkeypatch, caplog):
    """The token is recorded before the prune: a conflict in the housekeeping is logged, not answered."""
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 1)

    def conflicting_prune(now, limit=token_records.PRUNE_BATCH):
        raise OperationalError("DELETE ...", {}, pymysql.err.OperationalError(1213, "Deadlock found"))

    monkeypatch.setattr(token_records, "prune_expired_records", conflicting_prune)
    timed_api.register("alice")
    token = timed_api.user_token("alice")
    assert timed_api.parse_code(token) == 0
    assert "pruning expired token records failed: OperationalError 1213" in caplog.text


def test_a_prune_is_bounded(timed_app, timed_api, clock):
    timed_api.register("alice")
    for second in range(1, 5):
        clock.now = FIXED_NOW + second
        timed_api.user_token("alice")
    with timed_app.app_context():
        assert token_records.prune_expired_records(FIXED_NOW + 10 * WEEK, limit=3) == 3
    assert record_count(timed_app) == 2


def test_deleting_a_user_ends_its_tokens(timed_app, timed_api):
    token = timed_api.register("alice")
    result = timed_app.test_cli_runner().invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0, result.output
    assert timed_api.parse_code(token) == 705


def test_the_migration_builds_the_schema_the_model_declares(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(base_config(f"sqlite:///{tmp_path / 'migrated.db'}"))
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert [diff for diff in differences if "token_records" in repr(diff)] == []
        flask_migrate.downgrade(revision="0001_users")
        with db.engine.connect() as connection:
            assert not db.inspect(connection).has_table("token_records")
        db.engine.dispose()
