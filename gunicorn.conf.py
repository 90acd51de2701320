"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Each setting can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("OPENIM_BIND", "127.0.0.1:10000")
worker_class = "sync"
# Sync workers spend most of their time in the CPU (JSON, HMAC) and in short
# database calls: two per core keeps the cores busy while one waits.
workers = int(os.environ.get("OPENIM_WORKERS", multiprocessing.cpu_count() * 2 + 1))
timeout = 30
graceful_timeout = 10
keepalive = 5
errorlog = "-"
# The app logs one line per request (operationID, route, errCode, duration),
# so gunicorn's access log would say it twice: off unless OPENIM_ACCESS_LOG is
# on. It has who, what route, status, size, time; never bodies, headers or
# query strings, so that neither secrets nor tokens are logged.
if os.environ.get("OPENIM_ACCESS_LOG", "").strip().lower() in ("1", "true", "yes", "on"):
    accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

# OPENIM_LOG_FORMAT=json: gunicorn's own records are JSON objects too (the app's
# go through gunicorn's handlers, so they follow).
if os.environ.get("OPENIM_LOG_FORMAT") == "json":
    logger_class = "app.log_format.GunicornJsonLogger"

# GET /metrics sums the values each worker writes to a file in
# PROMETHEUS_MULTIPROC_DIR. prometheus_client chooses that mode when it is first
# imported, so the variable is set here, before anything imports it; each
# instance gets a directory of its own unless one is given (never share one
# between running instances: each empties it at start). OPENIM_METRICS=off
# leaves metrics out altogether.
METRICS_ON = os.environ.get("OPENIM_METRICS", "on").strip().lower() not in ("", "0", "false", "no", "off")
METRICS_DIR_PREFIX = "openim-metrics-"
if METRICS_ON and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)


def metrics_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") if METRICS_ON else None


def on_starting(server):
    """Counts start from zero at each start: the files of an earlier run go."""
    path = metrics_dir()
    if path:
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
