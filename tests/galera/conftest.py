"""A three-node MariaDB Galera cluster on loopback and one gunicorn instance per node.

Not part of `make test`: these tests run only with GALERA_TESTS=1, which is
what `make test-galera` sets. The cluster is brought up (in about ten
seconds) with scripts/galera-cluster.sh, or GALERA_CLUSTER_SCRIPT,
and brought down at the end; a cluster that `status` shows up already is
reused and left running. Only ports 3311-3313 are touched, never a MariaDB
on 3306.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.galera.cluster import ADMIN, DATABASE, NODES, REPORT, connect, node_url
from tests.http.server import Server, Servers

ENABLED = os.environ.get("GALERA_TESTS") == "1"
# Without GALERA_TESTS=1 the modules here are not even collected.
collect_ignore_glob = [] if ENABLED else ["test_*.py"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = Path(os.environ.get("GALERA_CLUSTER_SCRIPT") or REPO_ROOT / "scripts" / "galera-cluster.sh")
WORKERS_PER_INSTANCE = 2
# OPENIM_MANAGER_UIDS of every instance: the v3 tests' admin (test_5_v3.py).


def pytest_configure(config):
    config.addinivalue_line("markers", "galera: needs the three-node Galera cluster (make test-galera)")


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("galera")
        for line in REPORT:
            terminalreporter.write_line(line)


class Cluster:
    def run(self, *args: str, timeout: float = 180) -> str:
        if not CLUSTER_SCRIPT.is_file():
            pytest.fail(f"{CLUSTER_SCRIPT} not found: set GALERA_CLUSTER_SCRIPT to galera-cluster.sh")
        done = subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"galera-cluster.sh {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def status(self) -> dict[int, tuple[str, str]]:
        """node -> (pid or "-", cluster size as that node sees it, or "")."""
        nodes = {}
        for line in self.run("status").splitlines():
            fields = line.split()
            if fields and fields[0].startswith("node"):
                nodes[int(fields[0][4:])] = (fields[1].removeprefix("pid="), fields[2] if len(fields) > 2 else "")
        return nodes

    def is_up(self) -> bool:
        nodes = self.status()
        return all(nodes.get(n, ("-", ""))[0] != "-" and nodes[n][1] == "3" for n in NODES)

    def kill(self, node: int) -> None:
        self.run("kill", str(node))

    def start(self, node: int) -> None:
        """Start a node and wait until it is Synced (rejoins by IST after a kill)."""
        self.run("start", str(node))

    def ensure_all_running(self) -> None:
        for node, (pid, _) in self.status().items():
            if pid == "-":
                self.start(node)


@pytest.fixture(scope="session")
def galera_cluster():
    cluster = Cluster()
    reused = cluster.is_up()
    if not reused:
        started = time.monotonic()
        cluster.run("up")
        REPORT.append(f"cluster up in {time.monotonic() - started:.1f} s")
    else:
        REPORT.append("cluster was up already: reused, left running")
    yield cluster
    if reused:
        cluster.ensure_all_running()
    else:
        cluster.run("down")


@pytest.fixture(scope="session")
def galera_database(galera_cluster):
    """A fresh database on the cluster (created through node 1, so on all three)."""
    connection = connect(1, database=None)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
            cursor.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        connection.close()
    return DATABASE


@pytest.fixture(scope="session")
def instances(galera_database, tmp_path_factory) -> list[Server]:
    """One gunicorn instance per node: instances[0] on node 1, [1] on node 2, [2] on node 3.

    The first runs `flask db upgrade` through node 1 before it starts.
    """
    servers = Servers(tmp_path_factory)
    try:
        yield [
            servers.start(
                node_url(node),
                workers=WORKERS_PER_INSTANCE,
                upgrade=node == 1,
                extra_env={"FLASK_OPENIM_MANAGER_UIDS": json.dumps([ADMIN])},
            )
            for node in NODES
        ]
    finally:
        servers.stop_all()


@pytest.fixture
def make_app(app_on):
    """In-process apps (no gunicorn) on a database URL; engines disposed at the end."""
    return app_on
