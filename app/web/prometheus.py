"""GET /metrics in Prometheus' text format, and the counting of every request.

Requests are counted by route (the URL rule, so that unknown URLs cannot grow
the label set), dialect and errCode, with a latency histogram by route, and
the 503s apart; the rules' own counters are in app/metrics.py. Under gunicorn
each worker writes its values to a file of PROMETHEUS_MULTIPROC_DIR
(app/serving/gunicorn_settings.py makes and empties it at start) and a scrape sums the files
of all workers, those of dead workers included, so totals never go back.

Who may read: clients whose address is in OPENIM_METRICS_ALLOW (loopback by
default), or any client with `Authorization: Bearer <OPENIM_METRICS_TOKEN>`;
anyone else gets 403 / 801 in the v2 envelope. The address is the TCP peer's:
behind a proxy, that is the proxy (docs/operations.md, "Metrics").
"""

import hmac
import ipaddress
import os
from functools import lru_cache

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.errors import NoPermission
from app.metrics import start_at_zero as start_rule_counters_at_zero
from app.storage.database import RETRYABLE_MYSQL_ERRORS
from app.web.dialects import dialect_of_path
from app.web.route_docs import documented, route_doc

bp = Blueprint("metrics", __name__)

# The route label of a URL that matched no route (404, and 405 before routing found a method).
UNMATCHED = "<unmatched>"
# From 1 ms: a user_token takes a few.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

requests_total = Counter(
    "openim_http_requests",
    "Requests answered, by route, dialect and errCode ('-' for an answer without one).",
    ["route", "dialect", "err_code"],
)
request_duration = Histogram(
    "openim_http_request_duration_seconds",
    "Time from the request to its answer, by route.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
unavailable_total = Counter(
    "openim_http_unavailable", "503 answers (the database unreachable or failing), by route.", ["route"]
)


# labels() takes a lock and builds its key on every call: each child is looked up once. The label
# values are bounded (routes, dialects, errCodes), so the caches are too.
@lru_cache(maxsize=4096)
def _requests_with(route: str, dialect: str, err_code) -> Counter:
    return requests_total.labels(route, dialect, "-" if err_code is None else str(err_code))


@lru_cache(maxsize=256)
def _duration_of(route: str) -> Histogram:
    return request_duration.labels(route)


def count_request(route: str | None, dialect: str, err_code, status: int, elapsed_seconds: float) -> None:
    """Count an answer (web/every_answer.py calls this); `route` None for a URL that matched none."""
    route = UNMATCHED if route is None else route
    _requests_with(route, dialect, err_code).inc()
    _duration_of(route).observe(elapsed_seconds)
    if status == 503:
        unavailable_total.labels(route).inc()


@lru_cache(maxsize=8)
def networks(allowed: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(network) for network in allowed)


def may_read_metrics(remote_addr: str | None, authorization: str | None, allowed: list[str], token: str | None) -> bool:
    """The access rule of GET /metrics: the bearer token, when one is configured and sent, or the address."""
    if token and authorization:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:  # a UNIX socket has no address
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks(tuple(allowed)))


def registry() -> CollectorRegistry:
    """All workers' values under gunicorn; this process's alone elsewhere."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collecting = CollectorRegistry()
    multiprocess.MultiProcessCollector(collecting)
    return collecting


@bp.get("/metrics")
@documented("Prometheus metrics", errors=(NoPermission,), enveloped=False, media_type="text/plain")
def metrics():
    """The service's counters in Prometheus' text format: requests by route, dialect and errCode, their latency,
    tokens issued by platform, registrations, kicks, database retries and 503s (and OpenIM's Redis failures when
    OPENIM_REDIS_URL is set), summed over every worker.
    Readable from OPENIM_METRICS_ALLOW's networks (loopback by default) or with `Authorization: Bearer
    <OPENIM_METRICS_TOKEN>`; anyone else gets 403 / 801."""
    config = current_app.config
    if not may_read_metrics(
        request.remote_addr,
        request.headers.get("Authorization"),
        config["OPENIM_METRICS_ALLOW"],
        config["OPENIM_METRICS_TOKEN"],
    ):
        raise NoPermission()
    return Response(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def start_requests_at_zero(app: Flask) -> None:
    """Each route's counters at 0 before its first request: its success, its latency, its 503s.

    Success is errCode 0, or "-" for an answer without an envelope (/metrics, /docs).
    """
    for rule in app.url_map.iter_rules():
        doc = route_doc(app.view_functions[rule.endpoint])
        _requests_with(rule.rule, dialect_of_path(app, rule.rule).name, 0 if doc and doc.enveloped else None)
        _duration_of(rule.rule)
        unavailable_total.labels(rule.rule)


def init_app(app: Flask) -> None:
    # Every family, with the label values known, is in /metrics from the start, at 0.
    start_rule_counters_at_zero(RETRYABLE_MYSQL_ERRORS, openim_redis=bool(app.config["OPENIM_REDIS_URL"]))
    start_requests_at_zero(app)
