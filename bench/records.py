"""Token records in-process, for `bench/run.py`: what parse, the bound, the prune, kick and delete cost.

No HTTP: the app's own functions on a database migrated as `flask db upgrade`
does. Kick and delete run on a user with many records while another process
issues tokens to someone else; that writer's longest wait is what a batch
holds the others up.
"""

import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

SECRETS = {
    "OPENIM_SECRET": "bench-api-secret-0123456789abcdef",
    "OPENIM_TOKEN_SECRET": "bench-token-key-0123456789abcd",
}
WEEK = 7 * 86400


class StepClock:
    """One second later at every call: every issue mints a distinct token."""

    def __init__(self, start: int):
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


def add_records(user_id: str, count: int, issued_at: int, expired: bool = False) -> None:
    from sqlalchemy import insert

    from app.extensions import db
    from app.storage.models import TokenRecord, TokenStatus

    for start in range(0, count, 10_000):
        rows = [
            {
                "token_hash": f"{user_id}:{i}".encode().ljust(32, b"\0"),
                "user_id": user_id,
                "platform": 1 + i % 9,
                "status": TokenStatus.normal,
                "issued_at": issued_at,
                "expires_at": issued_at + (-WEEK if expired else WEEK),
            }
            for i in range(start, min(count, start + 10_000))
        ]
        db.session.execute(insert(TokenRecord), rows)
        db.session.commit()


def per_call_ms(call, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


def write_until_stopped(database_url: str, stop, ready, results) -> None:
    """In a process of its own: issue tokens to "writer" until `stop`, then put their (start, seconds) to `results`."""
    from app import create_app
    from app.rules import users

    app = create_app({**SECRETS, "SQLALCHEMY_DATABASE_URI": database_url})
    issues = []
    with app.app_context():
        users.issue_token("writer", 1)
        ready.set()
        while not stop.is_set():
            started = time.monotonic()
            users.issue_token("writer", 1)
            issues.append((started, time.monotonic() - started))
    results.put(issues)


def with_a_writer(database_url: str, work) -> tuple[float, float]:
    """(work's seconds, the longest issue_token of a concurrent writer in ms).

    The writer is another process, as the service's other writers are (gunicorn's
    sync workers, one request at a time each): a thread of this one would also
    measure the two threads' turns at Python's GIL, which no deployment has.
    """
    context = multiprocessing.get_context("spawn")
    stop, ready, results = context.Event(), context.Event(), context.Queue()
    writer = context.Process(target=write_until_stopped, args=(database_url, stop, ready, results))
    writer.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the writer process did not start")
        time.sleep(0.2)
        started = time.monotonic()
        work()
        ended = time.monotonic()
    finally:
        stop.set()
    issues = results.get(timeout=60)
    writer.join()
    during = [took for issue_started, took in issues if issue_started < ended and issue_started + took > started]
    took = ended - started
    return took, 1000 * max(during, default=took)


# Issue 23's: kicking or deleting a user's 1,000,000 records on SQLite, while another writer waits at most this.
KICK_SECONDS_TARGET, WRITER_WAIT_MS_TARGET, TARGET_RECORDS = 20, 150, 1_000_000


def measure(database_url: str | None, many: int) -> dict:
    """{"rows": (operation, cost, writer's longest wait)…, "records": many, "kick"/"delete": (seconds, ms)}
    on `database_url` (a scratch SQLite file when None)."""
    import flask_migrate

    from app import create_app
    from app.extensions import db
    from app.rules import tokens, users
    from app.storage import record_writes, token_records

    with tempfile.TemporaryDirectory() as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'records.db'}"
        clock = StepClock(int(time.time()))
        app = create_app({**SECRETS, "SQLALCHEMY_DATABASE_URI": url, "OPENIM_CLOCK": clock})
        with app.app_context():
            flask_migrate.upgrade()
            for user_id in ("alice", "writer", "big"):
                users.register({"user_id": user_id, "nickname": user_id}, f"bench-{user_id}")
            token = users.issue_token("alice", 2).token
            parse = per_call_ms(lambda: tokens.check(token), 2000)
            for _ in range(31):
                users.issue_token("alice", 1)
            at_bound = per_call_ms(lambda: users.issue_token("alice", 1), 500)
            add_records("expired", token_records.PRUNE_BATCH, clock.now - 2 * WEEK, expired=True)
            prune = per_call_ms(lambda: token_records.prune_expired_records(clock.now), 1)
            add_records("big", many, clock.now)
            kick = with_a_writer(url, lambda: users.kick_user("big"))
            delete = with_a_writer(url, lambda: users.delete_user("big"))
            for user_id in ("alice", "writer"):  # "big" is gone; leave the database as found
                users.delete_user(user_id)
            record_writes.delete_records_in_batches("expired")
            db.session.remove()
            db.engine.dispose()
    rows = [
        ("parse_token (one indexed join)", f"{parse:.3f} ms", ""),
        ("user_token at the bound (30 live: the count, the read and kick of the oldest)", f"{at_bound:.3f} ms", ""),
        (f"prune of {token_records.PRUNE_BATCH} expired records", f"{prune:.1f} ms", ""),
        (f"kick a user with {many:,} records", f"{kick[0]:.2f} s", f"{kick[1]:.0f} ms"),
        (f"delete a user with {many:,} records", f"{delete[0]:.2f} s", f"{delete[1]:.0f} ms"),
    ]
    return {"rows": rows, "records": many, "kick": kick, "delete": delete}


def report(results: dict[str, dict]) -> list[str]:
    lines = []
    for name, result in results.items():
        rows = result["rows"]
        lines += [
            f"## Token records, in-process ({name})",
            "",
            "| operation | median / total | another writer's longest wait |",
            "|---|---:|---:|",
        ]
        lines += [f"| {operation} | {cost} | {wait} |" for operation, cost, wait in rows]
        lines.append("")
    return lines


def target(results: dict[str, dict]) -> list[str]:
    """The Targets rows of a SQLite run at TARGET_RECORDS (a quick run's smaller one has none)."""
    result = results.get("SQLite")
    if result is None or result["records"] < TARGET_RECORDS:
        return []
    lines = []
    for operation in ("kick", "delete"):
        seconds, wait_ms = result[operation]
        ok = seconds <= KICK_SECONDS_TARGET and wait_ms <= WRITER_WAIT_MS_TARGET
        lines.append(
            f"| SQLite: {operation} a user's {TARGET_RECORDS:,} records ≤ {KICK_SECONDS_TARGET} s, another writer "
            f"waiting ≤ {WRITER_WAIT_MS_TARGET} ms | {seconds:.1f} s, {wait_ms:.0f} ms | "
            f"{'PASS' if ok else 'FAIL'} |"
        )
    return lines
