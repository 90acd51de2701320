"""Causal reads across nodes (docs/deployment.md): wsrep_sync_wait, set only on a Galera node."""

import uuid

import pymysql
import pytest
from sqlalchemy import text

from app.extensions import db
from app.storage.database import GALERA_SYNC_WAIT
from tests.galera.cluster import NODES, REPORT, connect, node_url
from tests.helpers import SECRET

pytestmark = pytest.mark.galera

PAIRS = 200
UPDATE_ROUNDS = 60
# For the controls: how many tries to see one stale answer without the setting.
STALE_PROBE_TRIES = 2000


def session_sync_wait(app) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT @@session.wsrep_sync_wait")).scalar_one()


@pytest.mark.parametrize("node", NODES)
def test_connections_to_a_galera_node_wait_for_causality(galera_database, make_app, node):
    assert session_sync_wait(make_app(node_url(node))) == GALERA_SYNC_WAIT


def test_connections_to_plain_mariadb_are_unchanged(make_app):
    """Read-only look at the MariaDB on 3306 (not a Galera node): the variable stays 0."""
    try:
        pymysql.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=2).close()
    except pymysql.MySQLError:
        pytest.skip("no MariaDB answering on 127.0.0.1:3306")
    app = make_app("mysql+pymysql://root@127.0.0.1:3306/?charset=utf8mb4")
    with app.app_context():
        wsrep_on = db.session.execute(text("SHOW VARIABLES LIKE 'wsrep_on'")).all()
    assert not wsrep_on or wsrep_on[0][1] == "OFF"
    assert session_sync_wait(app) == 0


def test_sqlite_is_unchanged(make_app, tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'plain.db'}")
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


@pytest.mark.parametrize(
    ("sync_wait", "statement"),
    [
        (0, "SELECT COUNT(*) FROM users WHERE user_id = %s"),
        # Why 3 and not 1: with only reads causal, an UPDATE can still miss the row.
        (1, "UPDATE users SET nickname = 'changed' WHERE user_id = %s"),
    ],
    ids=["select-without-sync-wait", "update-with-reads-only"],
)
def test_control_another_node_can_be_stale(instances, sync_wait, statement):
    """Without the setting the cluster does answer from stale state, so the tests below mean something."""
    prefix = f"stale-{uuid.uuid4().hex[:8]}-"
    writer, other = connect(1), connect(2)
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SET SESSION wsrep_sync_wait = {sync_wait}")
        for attempt in range(1, STALE_PROBE_TRIES + 1):
            user_id = f"{prefix}{attempt}"
            with writer.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO users (user_id, nickname, face_url, gender, phone_number, birth, email, ex,"
                    " operation_id, created_at) VALUES (%s, 'n', '', 0, '', 0, '', '', 'op', NOW())",
                    (user_id,),
                )
            with other.cursor() as cursor:
                matched = cursor.execute(statement, (user_id,))
                if statement.startswith("SELECT"):
                    matched = cursor.fetchone()[0]
            if matched == 0:
                REPORT.append(
                    f"control: wsrep_sync_wait={sync_wait}, {statement.split()[0]} on node 2 missed a row"
                    f" committed on node 1 after {attempt} tries"
                )
                return
        pytest.skip(f"never stale in {STALE_PROBE_TRIES} tries: the cluster happens to be in step here")
    finally:
        writer.close()
        other.close()


def test_registered_through_one_node_gets_a_token_through_the_next_at_once(instances):
    """Every ordered pair of instances; each token request is the very next request."""
    failures = []
    run = uuid.uuid4().hex[:8]
    for i in range(PAIRS):
        writer, reader = instances[i % 3], instances[(i + 1) % 3]
        user_id = f"causal-{run}-{i}"
        status, answer = writer.register(user_id)
        assert (status, answer["errCode"]) == (200, 0), answer
        status, answer = reader.user_token(user_id)
        if (status, answer["errCode"]) != (200, 0) or answer["data"]["userID"] != user_id:
            failures.append((i, status, answer))
    assert failures == [], f"{len(failures)} of {PAIRS} token requests did not see the registration"


def test_updated_through_the_next_node_at_once(instances):
    """update_user_info with the secret is a bare UPDATE: it must see a user registered a moment ago."""
    if instances[0].post("/user/update_user_info", {"operationID": "probe"})[1]["errCode"] == 404:
        pytest.skip("no /user/update_user_info in this version")
    run = uuid.uuid4().hex[:8]
    failures = []
    for i in range(UPDATE_ROUNDS):
        writer, updater, reader = instances[i % 3], instances[(i + 1) % 3], instances[(i + 2) % 3]
        user_id = f"update-{run}-{i}"
        assert writer.register(user_id)[1]["errCode"] == 0
        _, updated = updater.post(
            "/user/update_user_info",
            {
                "secret": SECRET,
                "operationID": f"upd-{user_id}",
                "userID": user_id,
                "nickname": f"renamed {i}",
            },
        )
        _, found = reader.post(
            "/user/get_users_info",
            {
                "secret": SECRET,
                "operationID": f"get-{user_id}",
                "userIDList": [user_id],
            },
        )
        if updated["errCode"] != 0 or found["errCode"] != 0 or found["data"][0]["nickname"] != f"renamed {i}":
            failures.append((i, updated, found))
    assert failures == []
