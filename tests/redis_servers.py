"""redis-server processes of the suite's own, on free loopback ports: standalone, a Cluster, a Sentinel setup.

Never the system's Redis: every server here is started by the test process,
without persistence, in a temporary folder, and is flushed, stopped, paused
(SIGSTOP) and started again only by the tests. The `redis_app` fixture builds
apps on one of them and closes their clients at the end.
"""

import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.storage import openim_redis
from tests.http.server import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
READY_SECONDS = 15

needs_redis = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="needs redis-server (apt-get install redis)")


def wait_until(condition, seconds: float = READY_SECONDS, what: str = "redis") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not ready within {seconds}s")


# A cluster node also listens on its port + 10000 (the cluster bus), so its port is at most 55535.
CLUSTER_BUS_OFFSET = 10000


def bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    for _ in range(1000):
        port = random.randrange(20000, 65535 - CLUSTER_BUS_OFFSET)
        if bindable(port) and bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise AssertionError("no free port pair for a cluster node")


class RedisServer:
    """One redis-server; `start()` again after `stop()` brings it back on the same port, empty."""

    def __init__(self, folder: Path, *extra: str, port: int | None = None, config_file: Path | None = None):
        self.port = port or free_port()
        self.folder = folder
        self.extra = extra
        self.config_file = config_file
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        # A config file, when there is one, comes first (a sentinel's must).
        first = [str(self.config_file)] if self.config_file else []
        return [REDIS_SERVER, *first, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.folder), *self.extra]  # fmt: skip

    def start(self) -> "RedisServer":
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.answers, what=f"redis-server on {self.port}")
        return self

    def answers(self) -> bool:
        with redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
            try:
                return client.ping()
            except redis.RedisError:
                return False

    def client(self, **options) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, **options)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=15)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class RedisCluster:
    """Three masters on loopback, no replicas, made one cluster by `redis-cli --cluster create`."""

    def __init__(self, folder: Path):
        self.nodes = [
            RedisServer(
                folder / f"node{n}",
                *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes{n}.conf"),
                port=free_cluster_port(),
            )
            for n in range(3)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> "RedisCluster":
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_until(self._ok, what="the cluster")
        return self

    def _ok(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
        return True

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, socket_timeout=5)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class RedisSentinel:
    """A master and one `redis-server --sentinel` watching it under MASTER."""

    MASTER = "openim-master"

    def __init__(self, folder: Path):
        self.master = RedisServer(folder / "master")
        self.config = folder / "sentinel.conf"
        self.sentinel = RedisServer(folder / "sentinel", "--sentinel", config_file=self.config)

    def start(self) -> "RedisSentinel":
        self.master.start()
        self.config.write_text(
            f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.MASTER} 60000\n"
        )
        self.sentinel.start()
        return self

    def settings(self) -> dict:
        return {
            "OPENIM_REDIS_URL": "redis:///0",
            "OPENIM_REDIS_MODE": "sentinel",
            "OPENIM_REDIS_SENTINEL_MASTER": self.MASTER,
            "OPENIM_REDIS_SENTINEL_ADDRESSES": [f"127.0.0.1:{self.sentinel.port}"],
        }

    def client(self) -> redis.Redis:
        return self.master.client()

    def stop(self) -> None:
        self.sentinel.stop()
        self.master.stop()


@pytest.fixture(scope="session")
def redis_standalone(tmp_path_factory) -> Iterator[RedisServer]:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("needs redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(redis_standalone) -> Iterator[RedisServer]:
    """The session's standalone Redis, running and empty."""
    if redis_standalone.process.poll() is not None:
        redis_standalone.start()
    redis_standalone.resume()
    with redis_standalone.client() as client:
        client.flushall()
    yield redis_standalone
    redis_standalone.resume()
    if redis_standalone.process.poll() is not None:
        redis_standalone.start()


@pytest.fixture
def redis_app(make_app):
    """`redis_app(url_or_settings, **overrides)`: make_app's app, keeping OpenIM's state there."""
    apps = []

    def factory(where, **overrides):
        settings = {"OPENIM_REDIS_URL": where} if isinstance(where, str) else dict(where)
        app = make_app(**settings, **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        openim_redis.of(app).close()
