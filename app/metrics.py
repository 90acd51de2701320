"""What the rules did, counted for Prometheus: prometheus_client objects only, no Flask, no HTTP.

Each rule counts in one line (`metrics.count_token(platform)`). Under gunicorn,
app/serving/gunicorn_settings.py sets PROMETHEUS_MULTIPROC_DIR in the master's on_starting,
so prometheus_client keeps each worker's values in a file of that directory
and GET /metrics sums them (app/web/prometheus.py); elsewhere (flask run, the
CLI, the tests) they live in the process's default registry.

prometheus_client picks that mode when it is first imported, so it is
imported here on the first count, in a worker, never when the app package is
merely imported: the gunicorn master imports app.serving.gunicorn_settings before
on_starting runs.
"""

from collections.abc import Iterable
from functools import cache

from app.openim import V3_PLATFORM_NAMES


@cache
def counters() -> dict:
    from prometheus_client import Counter

    return {
        "tokens_issued": Counter(
            "openim_tokens_issued",
            "Tokens issued and recorded (user_register, user_token, flask users token; v3's get_user_token"
            " and get_admin_token), by platform.",
            ["platform"],
        ),
        "registrations": Counter(
            "openim_registrations",
            "Users registered (user_register of either dialect, flask users create); a retried registration"
            " is not counted again.",
        ),
        "kicks": Counter(
            "openim_kicks",
            "Kicks of a registered user's tokens (force_logout, flask users kick), by platform or 'all'.",
            ["platform"],
        ),
        "redis_failures": Counter(
            "openim_redis_failures",
            "Operations on OpenIM's Redis (OPENIM_REDIS_URL) that failed or timed out, by operation.",
            ["operation"],
        ),
        "database_retries": Counter(
            "openim_database_retries",
            "Units of work run again after a transient MySQL error, by its error code.",
            ["error"],
        ),
    }


def platform_label(platform: int | None) -> str:
    if platform is None:
        return "all"
    return V3_PLATFORM_NAMES.get(platform, str(platform))


# labels() takes a lock and builds its key on every call; the children are few and live as long as
# the process, so each is looked up once (a hot path counts on every request).
@cache
def _tokens_issued_on(platform: int):
    return counters()["tokens_issued"].labels(platform_label(platform))


def count_token(platform: int) -> None:
    _tokens_issued_on(platform).inc()


def count_registrations(count: int = 1) -> None:
    counters()["registrations"].inc(count)


def count_kick(platform: int | None) -> None:
    counters()["kicks"].labels(platform_label(platform)).inc()


def count_database_retry(error_code: int | None) -> None:
    counters()["database_retries"].labels(str(error_code)).inc()


# The `operation` labels of redis_failures: what app/storage/openim_redis.py was doing (docs/openim-redis.md).
REDIS_OPERATIONS = ("issue", "check", "kick", "delete", "clean-up", "health")


def count_redis_failure(operation: str) -> None:
    counters()["redis_failures"].labels(operation).inc()


def start_at_zero(retried_errors: Iterable[int], openim_redis: bool = False) -> None:
    """Every counter at 0 for the label values it can have, before its first count.

    A label set never counted is absent from a scrape, and an alert on it sees
    "no data" rather than 0 (Prometheus' advice: initialise what you know).
    The Redis failures only with `openim_redis` (OPENIM_REDIS_URL set): without
    it there is no Redis to fail.
    """
    for platform in V3_PLATFORM_NAMES:
        _tokens_issued_on(platform)
    for label in [*V3_PLATFORM_NAMES.values(), platform_label(None)]:
        counters()["kicks"].labels(label)
    for error_code in retried_errors:
        counters()["database_retries"].labels(str(error_code))
    if openim_redis:
        for operation in REDIS_OPERATIONS:
            counters()["redis_failures"].labels(operation)
