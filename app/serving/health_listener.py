"""GET /healthz on a port of its own (OPENIM_HEALTH_BIND), answered even when every worker is busy.

A sync worker serves one request at a time. When all of them wait on the
database (a lock held elsewhere costs each up to 5 s, a silent server 10 s),
a balancer's check on the service's port waits in the queue behind them, and
the instance looks dead though it would answer "database unavailable" at
once. So the master opens one more listening socket before it forks the
workers (a port that is taken stops the start), and every worker answers on
it from a daemon thread of its own, through the app's own /healthz: the same
probe, bounded by its 0.8 s, the same answer and the same log line. A worker
waiting on the database waits in the driver or in a sleep, without Python's
GIL, so its thread answers meanwhile.

Only GET and HEAD /healthz are served here, nothing of the API; a client gets
CLIENT_TIMEOUT_SECONDS to send its request, so one that sends nothing holds a
thread briefly. gunicorn.conf.py calls `listen` in the master and `serve` in
each worker.
"""

import logging
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from gunicorn.util import parse_address

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT_SECONDS = 2
PATH = "/healthz"

_listener: socket.socket | None = None


def listen(bind: str) -> socket.socket:
    """The master's listening socket for `bind` (host:port), shared by the workers it forks."""
    global _listener
    if _listener is None:
        address = parse_address(bind)
        if not isinstance(address, tuple):
            raise RuntimeError(f"OPENIM_HEALTH_BIND must be host:port, not {bind!r}")
        try:
            _listener = socket.create_server(address, family=_family(address[0]), backlog=64)
        except OSError as error:
            raise RuntimeError(f"OPENIM_HEALTH_BIND {bind}: {error.strerror}") from None
        # The workers all wait on it: the one that takes a connection takes it, the others try again.
        _listener.setblocking(False)
    return _listener


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(app) -> threading.Thread | None:
    """In a worker: answer /healthz on the master's socket from a daemon thread; None when there is none."""
    if _listener is None:
        return None
    server = _HealthServer(_listener, _healthz_only(app))
    thread = threading.Thread(target=server.serve_forever, name="healthz-listener", daemon=True)
    thread.start()
    return thread


def _healthz_only(app):
    def application(environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        body = b"only GET /healthz here\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return application


class _QuietHandler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_SECONDS

    def log_message(self, format, *args):
        """The app logs the request itself."""


class _HealthServer(WSGIServer):
    """wsgiref's server on a socket bound already (the master's), so without a bind of its own."""

    def __init__(self, listener: socket.socket, app):
        self.address_family = listener.family
        host, port = listener.getsockname()[:2]
        super().__init__((host, port), _QuietHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.server_name, self.server_port = host, port
        self.setup_environ()
        self.set_app(app)

    def handle_error(self, request, client_address):
        # A client that hung up or sent nothing in time: nothing for the log's reader to act on.
        logger.debug("health check connection from %s failed", client_address, exc_info=True)
