"""Token records stay bounded (docs/api-v2.md): one record per distinct token, a cap on live ones, a prune."""

import threading
import time

import pytest
from sqlalchemy import func, insert, select

from app.config import ConfigError
from app.extensions import db
from app.openim import SECONDS_PER_DAY
from app.rules import tokens, users
from app.storage import token_records
from app.storage.models import TokenRecord, TokenStatus
from tests.helpers import FIXED_NOW, Api

WEEK = 7 * SECONDS_PER_DAY


@pytest.fixture
def bounded(make_app, clock):
    """An app with room for three live tokens per user and platform."""
    return make_app(OPENIM_CLOCK=clock, OPENIM_MAX_TOKENS_PER_PLATFORM=3)


def records_of(app, user_id: str) -> list[TokenRecord]:
    with app.app_context():
        query = select(TokenRecord).where(TokenRecord.user_id == user_id).order_by(TokenRecord.issued_at)
        return list(db.session.execute(query).scalars())


def test_byte_identical_tokens_share_one_record(make_app, clock):
    app = make_app(OPENIM_CLOCK=clock)
    client = app.test_client()
    Api(client).register("alice")
    issued = {Api(client).user_token("alice", platform=1 + call % 7) for call in range(300)}

    assert len(issued) == 7
    assert len(records_of(app, "alice")) == 7


def test_a_token_issued_again_after_a_kick_revives_its_one_record(make_app, clock):
    app = make_app(OPENIM_CLOCK=clock)
    client = app.test_client()
    token = Api(client).register("alice")
    with app.app_context():
        users.kick_user("alice")
    assert Api(client).parse_code(token) == 706
    assert Api(client).user_token("alice") == token
    assert Api(client).parse_code(token) == 0
    assert [record.status for record in records_of(app, "alice")] == [TokenStatus.normal]


def test_one_token_more_than_the_bound_kicks_the_oldest(bounded, clock):
    client = bounded.test_client()
    issued = [Api(client).register("alice", platform=1)]
    other_platform = Api(client).user_token("alice", platform=2)
    for _ in range(4):
        clock.now += 1
        issued.append(Api(client).user_token("alice", platform=1))

    assert [Api(client).parse_code(token) for token in issued] == [706, 706, 0, 0, 0]
    assert Api(client).parse_code(other_platform) == 0
    with bounded.app_context():
        assert [(live.platform, live.count) for live in tokens.live_tokens("alice")] == [(1, 3), (2, 1)]


def test_issuing_a_token_again_at_the_bound_kicks_nothing(bounded, clock):
    """The same token in the same second is one record: it takes no second place under the bound."""
    client = bounded.test_client()
    tokens = [Api(client).register("alice", platform=1)]
    for _ in range(2):
        clock.now += 1
        tokens.append(Api(client).user_token("alice", platform=1))

    assert Api(client).user_token("alice", platform=1) == tokens[-1]
    assert [Api(client).parse_code(token) for token in tokens] == [0, 0, 0]


def test_expired_records_take_no_place_under_the_bound(bounded, clock):
    client = bounded.test_client()
    Api(client).register("alice")
    clock.now += 1
    Api(client).user_token("alice")
    clock.now += WEEK  # both expired, not yet pruned
    fresh = []
    for _ in range(3):
        clock.now += 1
        fresh.append(Api(client).user_token("alice"))
    assert [Api(client).parse_code(token) for token in fresh] == [0, 0, 0]
    assert len(records_of(bounded, "alice")) == 5


def test_the_bound_is_thirty_by_default(make_app, clock):
    app = make_app(OPENIM_CLOCK=clock)
    client = app.test_client()
    first = Api(client).register("alice")
    for _ in range(29):
        clock.now += 1
        Api(client).user_token("alice")
    assert Api(client).parse_code(first) == 0
    clock.now += 1
    Api(client).user_token("alice")
    assert Api(client).parse_code(first) == 706


@pytest.mark.parametrize("bound", [0, -1, "30", 2.5, True, None])
def test_the_bound_must_be_a_positive_whole_number(make_app, bound):
    with pytest.raises(ConfigError, match="OPENIM_MAX_TOKENS_PER_PLATFORM"):
        make_app(OPENIM_MAX_TOKENS_PER_PLATFORM=bound)


def test_the_prune_is_drawn_by_chance_about_once_in_prune_every(monkeypatch):
    """Not by record id: the old every-128th-id turn never came when ids stepped by an even number."""
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 8)
    draws = sum(tokens.prune_is_due() for _ in range(8000))
    assert 500 < draws < 1500


def test_issuing_drains_a_backlog_of_expired_records(make_app, clock, monkeypatch):
    monkeypatch.setattr(tokens, "PRUNE_EVERY", 4)
    monkeypatch.setattr(token_records, "PRUNE_BATCH", 50)
    app = make_app(OPENIM_CLOCK=clock)
    client = app.test_client()
    Api(client).register("alice")
    add_records(app, "ghost", 1000, issued_at=FIXED_NOW - 2 * WEEK)
    for _ in range(200):
        clock.now += 1
        Api(client).user_token("alice")
    assert records_of(app, "ghost") == []


def add_records(app, user_id: str, count: int, issued_at: int) -> None:
    rows = [
        {
            "token_hash": f"{user_id}:{index}".encode().ljust(32, b"\0"),
            "user_id": user_id,
            "platform": 1 + index % 9,
            "status": TokenStatus.normal,
            "issued_at": issued_at,
            "expires_at": issued_at + WEEK,
        }
        for index in range(count)
    ]
    with app.app_context():
        for start in range(0, count, 5000):
            db.session.execute(insert(TokenRecord), rows[start : start + 5000])
        db.session.commit()


def longest_wait_of_a_writer_during(app, work) -> tuple[float, int, float]:
    """Run `work` while another thread issues tokens to bob: (longest issue, issues done meanwhile, work's time)."""
    stop = threading.Event()
    waits: list[float] = []

    def write_until_stopped() -> None:
        with app.app_context():
            while not stop.is_set():
                started = time.monotonic()
                users.issue_token("bob", 1)
                waits.append(time.monotonic() - started)

    writer = threading.Thread(target=write_until_stopped)
    writer.start()
    try:
        time.sleep(0.1)
        waits.clear()
        with app.app_context():
            started = time.monotonic()
            work()
            took = time.monotonic() - started
        done = len(waits)
    finally:
        stop.set()
        writer.join(timeout=30)
    return max(waits, default=took), done, took


@pytest.mark.parametrize("operation", ["delete", "kick"])
def test_a_user_with_many_records_does_not_hold_other_writers(make_app, operation):
    """Batches: the writer's longest wait is a fraction of the whole, and it keeps writing meanwhile."""
    app = make_app()
    client = app.test_client()
    Api(client).register("big")
    Api(client).register("bob")
    add_records(app, "big", 50_000, issued_at=int(time.time()))
    work = {"delete": lambda: users.delete_user("big"), "kick": lambda: users.kick_user("big")}[operation]

    longest, done, took = longest_wait_of_a_writer_during(app, work)

    print(f"{operation}: longest wait {longest:.3f}s, {done} issues during {took:.3f}s")
    assert longest < took / 2, (longest, took)
    assert done >= 5, (done, took)
    with app.app_context():
        live = select(func.count()).where(TokenRecord.user_id == "big", TokenRecord.status == TokenStatus.normal)
        assert db.session.execute(live).scalar_one() == 0


def test_a_kick_over_several_batches_kicks_and_counts_each_live_record_once(make_app):
    """Batches of RECORD_BATCH hashes, the last one short (it repeats its last hash to fill the statement)."""
    app = make_app()
    Api(app.test_client()).register("big")
    count = 2 * token_records.RECORD_BATCH + 63  # per platform: two full batches, then a short one
    add_records(app, "big", count * 9, issued_at=int(time.time()))  # on nine platforms
    with app.app_context():
        some = select(TokenRecord.token_hash).where(TokenRecord.platform == 1).limit(10)
        hashes = db.session.execute(some).scalars().all()  # kicked already: not counted again
        db.session.execute(
            TokenRecord.__table__.update().where(TokenRecord.token_hash.in_(hashes)).values(status="kicked")
        )
        db.session.commit()

        total = count * 9 + 1  # and the registration's own token
        assert users.kick_user("big") == total - len(hashes)
        statuses = select(TokenRecord.status, func.count()).where(TokenRecord.user_id == "big")
        assert dict(db.session.execute(statuses.group_by(TokenRecord.status)).all()) == {TokenStatus.kicked: total}
        users.delete_user("big")
        db.session.commit()  # MySQL's REPEATABLE READ: a snapshot after the delete
        left = select(func.count()).where(TokenRecord.user_id == "big", TokenRecord.platform != 0)
        assert db.session.execute(left).scalar_one() == 0  # platform 0: the userID's retirement, not a token
