"""Races across nodes (docs/deployment.md): one winner, certification conflicts retried, nothing lost."""

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, event, insert

from app.errors import AlreadyRegistered
from app.extensions import db
from app.rules import users
from app.storage.models import User
from tests.galera.cluster import NODES, REPORT, log_count, node_url, query
from tests.http.server import all_at_once

pytestmark = pytest.mark.galera

RACERS = 64
RACE_ROUNDS = 3
DISTINCT_USERS = 300
CLIENT_THREADS = 24
RETRY_LOG = "retrying after MySQL error"


def outcomes(results) -> list[tuple[int, int]]:
    return [(status, answer["errCode"]) for status, answer in results]


def test_a_race_spread_over_all_nodes_has_one_winner(instances):
    before = [log_count(instance, RETRY_LOG) for instance in instances]
    for round_number in range(RACE_ROUNDS):
        user_id = f"race-{uuid.uuid4().hex[:8]}"
        # A distinct operationID each: none of these is a retry of another.
        results = all_at_once(
            [
                lambda i=i, user_id=user_id: instances[i % 3].register(user_id, operation_id=f"{user_id}-op-{i}")
                for i in range(RACERS)
            ]
        )
        assert sorted(outcomes(results)) == [(200, 0)] + [(409, 1102)] * (RACERS - 1), f"round {round_number}"
        for node in NODES:
            assert query(node, "SELECT COUNT(*) FROM users WHERE user_id = %s", (user_id,)) == [(1,)]
    retries = [log_count(instance, RETRY_LOG) - logged for instance, logged in zip(instances, before, strict=True)]
    REPORT.append(
        f"{RACE_ROUNDS} races of {RACERS}: retries of 1213/1205 logged per node "
        + ", ".join(f"node{node}={count}" for node, count in zip(NODES, retries, strict=True))
    )


@pytest.mark.parametrize("same_operation", [False, True], ids=["other-operation", "same-operation"])
def test_a_certification_conflict_at_commit_is_retried(instances, make_app, caplog, same_operation):
    """Node 1 commits the same userID between our INSERT and our COMMIT on node 2.

    Our COMMIT then fails certification with 1213; register retries, sees the
    row (1062, then the causal read) and answers as for any duplicate:
    AlreadyRegistered, or success when node 1's row carries our operationID.
    """
    caplog.set_level(logging.INFO, logger="app.storage.database")
    user_id = f"certify-{uuid.uuid4().hex[:8]}"
    node1 = create_engine(node_url(1))
    app = make_app(node_url(2))
    conflicts = []

    def commit_on_node1_first(connection):
        with node1.begin() as connection:
            connection.execute(
                insert(User).values(
                    user_id=user_id,
                    nickname="first",
                    operation_id="op-mine" if same_operation else "op-theirs",
                )
            )
        conflicts.append(user_id)

    try:
        with app.app_context():
            event.listen(db.engine, "commit", commit_on_node1_first, once=True)
            if same_operation:
                users.register({"user_id": user_id, "nickname": "second"}, "op-mine")
                assert users.get_user(user_id).nickname == "first"
            else:
                with pytest.raises(AlreadyRegistered):
                    users.register({"user_id": user_id, "nickname": "second"}, "op-mine")
    finally:
        node1.dispose()
    assert conflicts == [user_id]
    retried = [record.getMessage() for record in caplog.records if RETRY_LOG in record.getMessage()]
    assert retried and retried[0].startswith(f"{RETRY_LOG} 1213"), retried
    for node in NODES:
        assert query(node, "SELECT nickname FROM users WHERE user_id = %s", (user_id,)) == [("first",)]


def test_concurrent_registrations_spread_over_nodes_are_all_readable_through_every_node(instances):
    prefix = f"many-{uuid.uuid4().hex[:8]}-"
    user_ids = [f"{prefix}{i:03d}" for i in range(DISTINCT_USERS)]
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        results = list(pool.map(lambda i: instances[i % 3].register(user_ids[i]), range(DISTINCT_USERS)))
    assert outcomes(results) == [(200, 0)] * DISTINCT_USERS

    for node in NODES:
        rows = query(node, "SELECT user_id FROM users WHERE user_id LIKE %s", (prefix + "%",))
        assert sorted(user_id for (user_id,) in rows) == user_ids, f"node {node}"

    def token_everywhere(user_id: str) -> list[tuple[int, int]]:
        return outcomes(instance.user_token(user_id) for instance in instances)

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        missing = [
            (user_id, per_node)
            for user_id, per_node in zip(user_ids, pool.map(token_everywhere, user_ids), strict=True)
            if per_node != [(200, 0)] * len(instances)
        ]
    assert missing == []
