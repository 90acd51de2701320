"""kill -9 in the middle of writes (issue 6): nothing answered is lost, nothing is half-written.

1. A gunicorn worker killed during a burst of registrations: every userID
   answered errCode 0 is stored and gets a token; every stored user of the
   burst has exactly the fields it was sent and the record of its token (the
   user and the record are one transaction); requests that died with the
   worker may get a connection error, none a 5xx but 503/802; gunicorn
   replaces the worker and the service keeps answering.
2. `flask users import` killed mid-file: only whole batches are stored, the
   first N rows of the file; running it again creates exactly the rest.
"""

import csv
import hashlib
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app.storage.models import TokenRecord, User
from tests.helpers import SECRET
from tests.http.server import PROJECT_ROOT, REQUEST_TIMEOUT_SECONDS, VENV_BIN, Server, worker_pids

pytestmark = pytest.mark.http

BURST = 300
CLIENTS = 16
KILLS = 2
BURST_TIMEOUT_SECONDS = 60


def checksum(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def profile(user_id: str) -> dict:
    """Fields that each carry the userID's checksum, so a torn row cannot pass for a whole one."""
    digest = checksum(user_id)
    return {
        "nickname": digest[:32],
        "face_url": f"https://example.com/{digest}.png",
        "gender": int(digest[0], 16) % 3,
        "phone_number": str(int(digest[:12], 16))[:15],
        "birth": int(digest[:8], 16),
        "email": f"{digest[:16]}@example.com",
        "ex": f"{user_id}:{digest}",
    }


def wire(user_id: str) -> dict:
    fields = profile(user_id)
    return {
        "secret": SECRET,
        "platform": 1,
        "userID": user_id,
        "nickname": fields["nickname"],
        "faceURL": fields["face_url"],
        "gender": fields["gender"],
        "phoneNumber": fields["phone_number"],
        "birth": fields["birth"],
        "email": fields["email"],
        "ex": fields["ex"],
        "operationID": uuid.uuid4().hex,
    }


def stored_users(engine, prefix: str) -> dict[str, dict]:
    columns = [User.user_id, *(getattr(User, name) for name in profile("x"))]
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).where(User.user_id.startswith(prefix, autoescape=True)))
        return {row[0]: dict(zip(profile("x"), row[1:], strict=True)) for row in rows}


def users_with_token_records(engine, prefix: str) -> set[str]:
    with engine.connect() as connection:
        query = select(TokenRecord.user_id).where(TokenRecord.user_id.startswith(prefix, autoescape=True))
        return set(connection.execute(query).scalars())


def test_a_worker_killed_mid_burst_loses_nothing_answered(start_server, http_database_url, database, unique_id):
    server = start_server(http_database_url, workers=4)
    master = server.process.pid
    prefix = unique_id("kill") + "-"
    user_ids = [f"{prefix}{number:03d}" for number in range(BURST)]
    pending: queue.Queue[str] = queue.Queue()
    for user_id in user_ids:
        pending.put(user_id)
    outcomes: dict[str, tuple[int, dict] | Exception] = {}
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            while True:
                try:
                    user_id = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    with session.post(
                        server.url + "/auth/user_register", json=wire(user_id), timeout=REQUEST_TIMEOUT_SECONDS
                    ) as response:
                        outcome = (response.status_code, response.json())
                except requests.RequestException as error:  # the worker died under this request
                    outcome = error
                with lock:
                    outcomes[user_id] = outcome

    def answered() -> int:
        with lock:
            return len(outcomes)

    # The server answers once one worker has booted; on a loaded machine the others may still be on their way.
    boot_deadline = time.monotonic() + 10
    before = worker_pids(master)
    while len(before) < 4 and time.monotonic() < boot_deadline:
        time.sleep(0.05)
        before = worker_pids(master)
    assert len(before) == 4, before
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    killed = []
    try:
        deadline = time.monotonic() + BURST_TIMEOUT_SECONDS
        for turn in range(KILLS):
            # A third of the way in, then two thirds: workers busy on both sides of each kill.
            while answered() < BURST * (turn + 1) // (KILLS + 1) and time.monotonic() < deadline:
                time.sleep(0.002)
            victim = sorted(worker_pids(master) - set(killed))[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
    finally:
        for thread in threads:
            thread.join(BURST_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "the burst did not end"
    assert len(outcomes) == BURST

    # Answers: 0, 503/802, or no answer at all (the connection died with the worker).
    answers = {user_id: outcome for user_id, outcome in outcomes.items() if isinstance(outcome, tuple)}
    ok = {user_id for user_id, (_, answer) in answers.items() if answer["errCode"] == 0}
    dropped = [user_id for user_id, outcome in outcomes.items() if isinstance(outcome, Exception)]
    others = [
        (status, answer)
        for status, answer in answers.values()
        if answer["errCode"] != 0 and (status, answer["errCode"]) != (503, 802)
    ]
    assert not others, f"{len(others)} answers neither 0 nor 503/802, first: {others[0]}"
    assert len(ok) >= BURST // 2, f"only {len(ok)} of {BURST} answered 0 ({len(dropped)} dropped)"

    # gunicorn replaced the killed workers, and the service answers.
    replace_deadline = time.monotonic() + 10
    after = worker_pids(master)
    while (len(after) < 4 or after & set(killed)) and time.monotonic() < replace_deadline:
        time.sleep(0.05)
        after = worker_pids(master)
    assert len(after) == 4 and not after & set(killed), (before, killed, after)
    assert server.register(f"{prefix}after")[1]["errCode"] == 0

    # Nothing answered 0 is lost; nothing stored is half-written.
    stored = stored_users(database, prefix)
    stored.pop(f"{prefix}after")
    assert not ok - stored.keys(), f"answered 0 but not stored: {sorted(ok - stored.keys())[:5]}"
    torn = [user_id for user_id, fields in stored.items() if fields != profile(user_id)]
    assert not torn, f"stored with other fields than sent: {torn[:5]}"
    without_record = stored.keys() - users_with_token_records(database, prefix)
    assert not without_record, f"stored without the record of its token: {sorted(without_record)[:5]}"
    # Stored but unanswered: only requests that died with their worker.
    assert stored.keys() - ok <= set(dropped), sorted(stored.keys() - ok - set(dropped))[:5]
    for user_id in sorted(ok)[:: max(1, len(ok) // 50)]:
        status, answer = server.user_token(user_id)
        assert (status, answer["errCode"], answer["data"]["userID"]) == (200, 0, user_id)

    log = server.log_path.read_text(errors="replace")
    assert '" 500 ' not in log and "errCode=500" not in log, server.log_tail()
    for pid in killed:
        assert f"(pid:{pid}) was sent SIGKILL" in log, server.log_tail()


IMPORT_ROWS = 30_000  # 30 batches: killed after the first ones, most of the file is left
BATCH_SIZE = 1000
IMPORT_TIMEOUT_SECONDS = 60


def import_command(path: Path) -> list[str]:
    flask = str(VENV_BIN / "flask")
    return [flask, "--app", "wsgi", "users", "import", str(path), "--batch-size", str(BATCH_SIZE)]


def count_prefix(engine, prefix: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(User).where(User.user_id.startswith(prefix, autoescape=True))
        return connection.execute(query).scalar_one()


def test_an_import_killed_mid_file_leaves_whole_batches_and_resumes(
    server, tmp_path, http_database_url, database, unique_id
):
    """(`server`, the suite's gunicorn, is here for the database it has migrated.)"""
    prefix = unique_id("import") + "-"
    user_ids = [f"{prefix}{number:06d}" for number in range(IMPORT_ROWS)]
    path = tmp_path / "users.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["userID", "nickname", "email", "ex"])
        for user_id in user_ids:
            fields = profile(user_id)
            writer.writerow([user_id, fields["nickname"], fields["email"], fields["ex"]])

    runner = Server(tmp_path, http_database_url, workers=1)  # not started: its environment
    command = import_command(path)
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=runner.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + IMPORT_TIMEOUT_SECONDS
        # Kill once the first batches are visible, with most of the file still to go.
        while count_prefix(database, prefix) < 2 * BATCH_SIZE and process.poll() is None:
            assert time.monotonic() < deadline, "the import stored nothing"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    kept = count_prefix(database, prefix)
    assert kept % BATCH_SIZE == 0 and 0 < kept < IMPORT_ROWS, kept
    with database.connect() as connection:
        rows = connection.execute(
            select(User.user_id, User.nickname, User.email, User.ex)
            .where(User.user_id.startswith(prefix, autoescape=True))
            .order_by(User.user_id)
        ).all()
    assert [row[0] for row in rows] == user_ids[:kept], "not the first rows of the file"
    for user_id, nickname, email, ex in rows:
        fields = profile(user_id)
        assert (nickname, email, ex) == (fields["nickname"], fields["email"], fields["ex"]), user_id

    again = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=runner.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
    )
    assert again.returncode == 0, again.stderr
    assert f"created {IMPORT_ROWS - kept}, already there {kept}, invalid 0" in again.stdout, again.stdout
    assert count_prefix(database, prefix) == IMPORT_ROWS
