"""gunicorn's settings for production, the one source of both ways to start it:
`gunicorn -c gunicorn.conf.py wsgi:app` (gunicorn.conf.py takes them from here) and
`openim-auth serve` (app/serving/gunicorn_service.py).

Each setting can be overridden on the command line or with GUNICORN_CMD_ARGS.
`settings()` reads the environment when called: gunicorn reads its config file
again at each reload (HUP). Importing this module loads no prometheus_client
(app/metrics.py does that on first use): on_starting must set
PROMETHEUS_MULTIPROC_DIR before that happens.
"""

import gc
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile

from app.serving.cpus import usable_cpus
from app.serving.gunicorn_access_log import EscapingLogger
from app.serving.log_format import json_formatter

DEFAULT_BIND = "127.0.0.1:10000"


def settings() -> dict:
    """gunicorn's settings by name, as a config file would set them."""
    chosen = {
        "bind": os.environ.get("OPENIM_BIND", DEFAULT_BIND),
        "worker_class": "sync",
        # Sync workers spend most of their time in the CPU (JSON, HMAC) and in short
        # database calls: two per core keeps the cores busy while one waits. Cores the
        # process may use (affinity, cgroup CPU quota: app/serving/cpus.py), not the host's.
        "workers": int(os.environ.get("OPENIM_WORKERS", usable_cpus() * 2 + 1)),
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "errorlog": "-",
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        # Every value of the access log line escaped, so that no request can split it
        # (app/serving/log_safety.py); JSON objects under OPENIM_LOG_FORMAT=json.
        "logger_class": JsonLogger if os.environ.get("OPENIM_LOG_FORMAT") == "json" else EscapingLogger,
        "on_starting": on_starting,
        "post_worker_init": post_worker_init,
        "child_exit": child_exit,
        "on_exit": on_exit,
    }
    # The app logs one line per request (operationID, route, errCode, duration),
    # so gunicorn's access log would say it twice: off unless OPENIM_ACCESS_LOG is
    # on. It has who, what route, status, size, time; never bodies, headers or
    # query strings, so that neither secrets nor tokens are logged.
    if os.environ.get("OPENIM_ACCESS_LOG", "").strip().lower() in ("1", "true", "yes", "on"):
        chosen["accesslog"] = "-"
    if health_bind():
        chosen["when_ready"] = open_health_port
    return chosen


def post_worker_init(worker):
    """A worker that has loaded the app: its health thread started, then everything it holds frozen.

    The app's objects (routes, schemas, SQLAlchemy's tables and statement
    caches) live as long as the worker. Frozen (gc.freeze), the cyclic garbage
    collector no longer walks them in every full collection that a request's
    garbage triggers: 5 % fewer instructions per request (BENCHMARKS.md).
    """
    if health_bind():
        serve_health_port(worker)
    gc.freeze()


# OPENIM_HEALTH_BIND (host:port): GET /healthz there too, answered by a thread
# of each worker even while every worker waits on the database
# (app/serving/health_listener.py). The master opens it before the workers fork.
def health_bind() -> str:
    return os.environ.get("OPENIM_HEALTH_BIND", "").strip()


def open_health_port(server):
    from app.serving import health_listener

    health_listener.listen(health_bind())
    server.log.info("Health check at: http://%s/healthz", health_bind())


def serve_health_port(worker):
    from app.serving import health_listener

    health_listener.serve(worker.wsgi)


# GET /metrics sums the values each worker writes to a file in
# PROMETHEUS_MULTIPROC_DIR: each instance gets a fresh directory (under $TMPDIR)
# unless one is given; never share one between running instances, as each
# empties it at start. prometheus_client picks that mode when a process first
# imports it, so nothing here imports the app: the master sets the variable in
# on_starting, and the workers, which load the app after, inherit it (this is
# also why `preload_app` needs PROMETHEUS_MULTIPROC_DIR set before the start).
# OPENIM_METRICS=off leaves metrics out altogether.
METRICS_DIR_PREFIX = "openim-metrics-"


def metrics_on() -> bool:
    return os.environ.get("OPENIM_METRICS", "on").strip().lower() not in ("", "0", "false", "no", "off")


def metrics_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") if metrics_on() else None


def on_starting(server):
    use_own_control_socket(server)
    start_metrics(server)


def start_metrics(server):
    """Counts start from zero at each start: the files of an earlier run go."""
    if not metrics_on():
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if "prometheus_client" in sys.modules:
            server.log.warning("metrics would count one worker only: set PROMETHEUS_MULTIPROC_DIR with preload_app")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    server.log.info("Metrics directory: %s", path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    for entry in os.scandir(path):
        if entry.name.endswith(".db") and entry.is_file(follow_symlinks=False):
            os.remove(entry.path)


def child_exit(server, worker):
    """A dead worker's counters stay in its files (totals never go back); only its live gauges go."""
    if metrics_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    path = metrics_dir()
    if path and os.path.basename(path).startswith(METRICS_DIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


# gunicornc's control socket (gunicorn 25.1 and later) is by default
# $XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl: one path for every
# instance a user runs, so gunicornc's shutdown, reload or worker kill reach
# whichever started last, and the first to stop deletes the others' socket.
# Each instance gets its own, in that folder, named after the addresses it serves
# (which no two running instances share); a --control-socket given is kept.
CONTROL_SOCKET_PREFIX = "openim-auth-"
# A Unix socket's path holds at most 107 bytes (sun_path, 108 with its NUL).
MAX_SOCKET_PATH_BYTES = 107


def control_socket_path(folder: str, binds: list[str]) -> str:
    """`<folder>/openim-auth-127.0.0.1:10000.ctl`; a digest of the addresses when that is too long."""
    name = "+".join(re.sub(r"[^\w.:\[\]@-]", "_", bind) for bind in binds)
    path = os.path.join(folder, f"{CONTROL_SOCKET_PREFIX}{name}.ctl")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        digest = hashlib.sha256("\n".join(binds).encode()).hexdigest()[:16]
        path = os.path.join(folder, f"{CONTROL_SOCKET_PREFIX}{digest}.ctl")
    return path


def use_own_control_socket(server) -> None:
    setting = server.cfg.settings.get("control_socket")
    if setting is None or setting.value != setting.default:  # a gunicorn without one, or a path chosen
        return
    server.cfg.set("control_socket", control_socket_path(os.path.dirname(setting.default), server.cfg.bind))


# OPENIM_LOG_FORMAT=json: gunicorn's own records, and the libraries', are JSON
# objects too; the app's go through gunicorn's handlers, so they follow. The
# objects are those of app/serving/log_format.py.


class LibrariesJsonHandler(logging.StreamHandler):
    """Records of other loggers than the app's (SQLAlchemy, Python's warnings), which reach the root logger.

    The app's arrive there too, already written by gunicorn's handlers.
    """

    def __init__(self):
        super().__init__(sys.stderr)
        self.setFormatter(json_formatter())
        self.addFilter(lambda record: record.name != "app" and not record.name.startswith("app."))


class JsonLogger(EscapingLogger):
    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter())
        root = logging.getLogger()
        for handler in [handler for handler in root.handlers if isinstance(handler, LibrariesJsonHandler)]:
            root.removeHandler(handler)
        root.addHandler(LibrariesJsonHandler())
        logging.captureWarnings(True)
