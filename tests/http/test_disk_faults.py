"""The SQLite file read-only or its disk full, through gunicorn (issue 6).

Either fault answers a clear 503/802 on user_register and on user_token (which
writes the token's record), never a 500 with a trace; /healthz reports it; and
the service recovers by itself once the fault is gone.

The faults are real ones. The tests run as root (here and in CI), and root
ignores file permissions, so a chmod would prove nothing: the database lives
on a small tmpfs mounted for the test, remounted read-only or filled up
(SQLite then answers "unable to open database file" and "database or disk is
full"). Where mounting is not permitted, those tests skip and say so, and the
disk-full fault comes from `PRAGMA max_page_count` instead (set on each new
connection by a sitecustomize module on the server's PYTHONPATH): SQLite
answers SQLITE_FULL from the same code path as on a full disk. The database
opened in SQLite's own read-only mode (a `file:…?mode=ro` URI: reads work,
every write answers "attempt to write a readonly database") runs everywhere.
"""

import errno
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select

from app.extensions import db
from app.storage.models import User
from tests.helpers import TEST_DATABASE_URL, is_mysql

pytestmark = [
    pytest.mark.http,
    pytest.mark.skipif(is_mysql(TEST_DATABASE_URL), reason="faults of the SQLite file: SQLite only"),
]

DISK_SIZE = "2m"
# Registrations that fill what the WAL file already holds; a full disk shows within them.
MAX_WRITES_UNTIL_FULL = 300
BIG = "x" * 1000
LARGE_PROFILE = {"faceURL": BIG, "ex": BIG}  # each registration writes a few KiB


# --- helpers ---------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=10)
    except OSError as error:  # no mount command at all
        return subprocess.CompletedProcess(["mount", *args], 127, "", str(error))


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, timeout=10).returncode != 0:
        # Still busy (a process that has not exited yet): detach it now, freed when unused.
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


_mount_refusal: list[str] = []  # why mounting is not permitted here, once known


def mount_refusal(tmp_path: Path) -> str | None:
    """None where this process may mount a tmpfs; else the reason it may not."""
    if not _mount_refusal:
        probe = tmp_path / "mount-probe"
        probe.mkdir()
        result = _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
        if result.returncode == 0:
            _umount(probe)
        refusal = (result.stderr.strip() or f"mount exited {result.returncode}") if result.returncode else ""
        _mount_refusal.append(refusal)
    return _mount_refusal[0] or None


@pytest.fixture
def tmpfs(tmp_path) -> Path:
    """A 2 MiB tmpfs of the test's own, unmounted afterwards; skips where mounting is not permitted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = _mount("-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(mount_point))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the fallback test covers the fault")
    try:
        yield mount_point
    finally:
        _umount(mount_point)


def fill(directory: Path) -> Path:
    """Write a file into `directory` until its file system has not one byte left."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:  # bounded by the size of the file system
                try:
                    out.write(block)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    return filler


def assert_db_failed(answer: tuple[int, dict]) -> None:
    status, body = answer
    assert (status, body["errCode"], body["errMsg"]) == (503, 802, "db failed"), answer


def assert_clean_log(server) -> None:
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, server.log_tail()
    assert '" 500 ' not in log, server.log_tail()  # the access log's status column
    assert "database failed" in log, server.log_tail()


def check_healthz_reported(health: tuple[int, dict], fault: str) -> None:
    """/healthz must answer 503/802 during the fault, so a balancer routes around it."""
    assert health[0] == 503 and health[1]["errCode"] == 802, f"/healthz on {fault}: {health}"


def stored(database_url: str, user_id: str) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).where(User.user_id == user_id)).scalar_one() == 1
    finally:
        engine.dispose()


def prepare_database(database_url: str, user_id: str) -> None:
    """The schema and one registered user, written in this process (quicker than a server).

    On a plain engine: the app's would keep its write-lock file open in this
    process, and Linux does not remount a file system read-only under an open file.
    """
    engine = create_engine(database_url)
    try:
        db.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(insert(User).values(user_id=user_id, nickname="n", operation_id="prepare"))
    finally:
        engine.dispose()  # the last connection: SQLite checkpoints and removes -wal and -shm


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# --- read-only -------------------------------------------------------------


def test_read_only_file_system_answers_802_and_recovers(start_server, tmpfs):
    """The disk goes read-only (as ext4 does on an I/O error) and the service is restarted on it.

    Linux refuses to remount a file system read-only while a process has a
    file on it open for writing (EBUSY), as every worker does: so the disk is
    remounted read-only between the last write and the start of the service.
    Then back to read-write while it runs: it must recover without a restart.
    """
    database_url = sqlite_url(tmpfs / "openim.db")
    prepare_database(database_url, "before-ro")

    result = _mount("-o", "remount,ro", str(tmpfs))
    assert result.returncode == 0, result.stderr
    try:
        server = start_server(database_url, workers=2, upgrade=False)
        # More calls than workers, so that every worker meets the fault.
        for attempt in range(4):
            assert_db_failed(server.register(f"during-ro-{attempt}", **LARGE_PROFILE))
            assert_db_failed(server.user_token("before-ro"))
        health = server.get("/healthz")
    finally:
        assert _mount("-o", "remount,rw", str(tmpfs)).returncode == 0

    for attempt in range(4):
        assert server.register(f"after-ro-{attempt}", **LARGE_PROFILE)[1]["errCode"] == 0
        assert server.user_token("before-ro")[1]["errCode"] == 0
    assert not stored(database_url, "during-ro-0")
    assert_clean_log(server)
    check_healthz_reported(health, "the read-only file system")


def test_read_only_database_by_sqlite_mode_answers_802(start_server, tmp_path):
    """SQLite opens the file read-only itself: reads work, every write fails (SQLITE_READONLY)."""
    path = tmp_path / "ro" / "openim.db"
    path.parent.mkdir()
    prepare_database(sqlite_url(path), "before-ro")

    server = start_server(f"sqlite:///file:{path}?mode=ro&uri=true", workers=2, upgrade=False)
    for attempt in range(4):
        assert_db_failed(server.register(f"during-ro-{attempt}", **LARGE_PROFILE))
        assert_db_failed(server.user_token("before-ro"))
    health = server.get("/healthz")
    assert_clean_log(server)
    check_healthz_reported(health, "the read-only database")


# --- disk full -------------------------------------------------------------


def _fill_until_db_fails(server, prefix: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """Register until the database refuses; (userIDs answered 0, every other answer)."""
    answered_ok, others = [], []
    for number in range(MAX_WRITES_UNTIL_FULL):
        user_id = f"{prefix}{number}"
        answer = server.register(user_id, **LARGE_PROFILE)
        if answer[1]["errCode"] == 0:
            answered_ok.append(user_id)
            continue
        others.append(answer)
        if len(others) >= 4:
            break
    return answered_ok, others


def test_full_disk_answers_802_and_recovers_when_space_is_freed(start_server, tmpfs):
    database_url = sqlite_url(tmpfs / "openim.db")
    server = start_server(database_url, workers=2)
    assert server.register("before-full", **LARGE_PROFILE)[1]["errCode"] == 0

    filler = fill(tmpfs)
    answered_ok, others = _fill_until_db_fails(server, "full-")
    assert others, f"{MAX_WRITES_UNTIL_FULL} registrations of a few KiB all succeeded on a full disk"
    for answer in others:
        assert_db_failed(answer)
    token_answers = [server.user_token("before-full") for _ in range(4)]
    health = server.get("/healthz")

    filler.unlink()
    assert server.register("after-full", **LARGE_PROFILE)[1]["errCode"] == 0
    assert server.user_token("before-full")[1]["errCode"] == 0
    # Nothing answered 0 was lost to the full disk.
    for user_id in answered_ok:
        assert stored(database_url, user_id), user_id
    assert_clean_log(server)
    for answer in token_answers:
        assert answer[1]["errCode"] in (0, 802) and answer[0] != 500, answer
    assert any(answer[1]["errCode"] == 802 for answer in token_answers), f"user_token on a full disk: {token_answers}"
    check_healthz_reported(health, "the full disk")


SITECUSTOMIZE = """
    # Written by tests/http/test_disk_faults.py: caps every SQLite connection of
    # this process at max_page_count pages (read from a file, so the test can
    # raise it), so SQLite answers SQLITE_FULL as on a full disk.
    import sqlite3
    from pathlib import Path

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    LIMIT_FILE = Path({limit_file!r})

    @event.listens_for(Engine, "connect")
    def _cap_pages(dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute(f"PRAGMA max_page_count = {{int(LIMIT_FILE.read_text())}}")
"""


def test_full_database_by_max_page_count_answers_802(start_server, tmp_path):
    """The fallback where mounting is not permitted: a real SQLITE_FULL from a page cap.

    SQLite answers "database or disk is full" here as on the full tmpfs, so
    where the tmpfs test runs this one adds nothing and is skipped.
    """
    if mount_refusal(tmp_path) is None:
        pytest.skip("the tmpfs test fills a real disk here")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    limit_file = hooks / "max_page_count"
    limit_file.write_text("1000000")
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE.format(limit_file=str(limit_file))))
    database_path = tmp_path / "capped" / "openim.db"
    database_path.parent.mkdir()
    database_url = sqlite_url(database_path)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}
    upgraded = start_server(database_url, workers=1, extra_env=env)
    assert upgraded.register("before-full", **LARGE_PROFILE)[1]["errCode"] == 0
    upgraded.stop()
    upgraded.wait_stopped()
    engine = create_engine(database_url)
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    engine.dispose()

    limit_file.write_text(str(pages + 8))
    server = start_server(database_url, workers=2, upgrade=False, extra_env=env)
    answered_ok, others = _fill_until_db_fails(server, "full-")
    assert others, f"{MAX_WRITES_UNTIL_FULL} registrations all succeeded under max_page_count"
    for answer in others:
        assert_db_failed(answer)
    # Token records (a hundred bytes each) fill what is left of the last page.
    for _ in range(MAX_WRITES_UNTIL_FULL):
        answer = server.user_token("before-full")
        if answer[1]["errCode"] != 0:
            break
    assert_db_failed(answer)
    for user_id in answered_ok:
        assert stored(database_url, user_id), user_id
    assert_clean_log(server)
    # (/healthz is not asked: a page cap is no state of the disk a probe could see.)
