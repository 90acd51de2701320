"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`.

Each setting can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""
import os
import sys

# The app package sits next to this file, wherever gunicorn is started from.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from app.cpus import usable_cpus  # noqa: E402

bind = os.environ.get("OPENIM_BIND", "127.0.0.1:10000")
worker_class = "sync"
# Sync workers spend most of their time in the CPU (JSON, HMAC) and in short
# database calls: two per core keeps the cores busy while one waits. Cores the
# process may use (affinity, cgroup CPU quota: app/cpus.py), not the host's.
workers = int(os.environ.get("OPENIM_WORKERS", usable_cpus() * 2 + 1))
timeout = 30
graceful_timeout = 10
keepalive = 5
# Access log to stderr: who, what route, status, size, time. Never bodies,
# headers or query strings, so that neither secrets nor tokens are logged.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# Every value of that line escaped, so that no request can split it (app/web/log_safety.py).
logger_class = "app.web.access_log.EscapingLogger"
errorlog = "-"
