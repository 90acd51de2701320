"""Configuration: defaults < instance/config.py < FLASK_* environment (docs/configuration.md).

Also the first-run secret generation and the weak-secret check, so that the
service never runs on a secret anybody else knows.
"""

import fcntl
import ipaddress
import logging
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from app.checkout_or_installed import default_instance_path
from app.openim import MULTI_LOGIN_POLICIES

logger = logging.getLogger(__name__)

DEFAULTS = {
    "OPENIM_TOKEN_EXPIRE_DAYS": 7,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "OPENIM_ALLOW_WEAK_SECRETS": False,
    "OPENIM_MANAGER_UIDS": [],
    "OPENIM_MULTI_LOGIN": "keep",
    # Live token records per user and platform; one more kicks the oldest (OpenIM v3's maxNumOneEnd).
    "OPENIM_MAX_TOKENS_PER_PLATFORM": 30,
    "OPENIM_PREVIOUS_SECRETS": [],
    "OPENIM_PREVIOUS_TOKEN_SECRETS": [],
    # /user/get_all_users_uid without paging: more users than this, and it asks for paging.
    "OPENIM_UNPAGED_LIST_LIMIT": 10_000,
    # Seconds since the epoch; tests inject a fixed clock here.
    "OPENIM_CLOCK": time.time,
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # OPTIONS would answer an empty HTML 200; without it, a 405 envelope (docs/api-v2.md).
    "PROVIDE_AUTOMATIC_OPTIONS": False,
    # Who may read GET /metrics: clients in these networks, or with this bearer token.
    "OPENIM_METRICS_ALLOW": ["127.0.0.0/8", "::1/128"],
    "OPENIM_METRICS_TOKEN": None,
    # OpenIM's token state in Redis (docs/openim-redis.md): off while the URL is unset.
    "OPENIM_REDIS_URL": None,
    "OPENIM_REDIS_MODE": "standalone",
    "OPENIM_REDIS_SENTINEL_MASTER": None,
    "OPENIM_REDIS_SENTINEL_ADDRESSES": [],
    "OPENIM_REDIS_CACHE_TOPIC": "DELETE_CACHE_AUTH",
}

# Read from the environment (not FLASK_*), because app/serving/gunicorn_settings.py reads them too.
ENVIRONMENT_KEYS = {"OPENIM_LOG_FORMAT": "text", "OPENIM_METRICS": "on"}
LOG_FORMATS = ("text", "json")

GENERATED_SECRETS = ("OPENIM_SECRET", "OPENIM_TOKEN_SECRET")
# Secrets are strings even when they look like JSON numbers in the environment.
STRING_KEYS = GENERATED_SECRETS + (
    "SQLALCHEMY_DATABASE_URI",
    "OPENIM_METRICS_TOKEN",
    "OPENIM_REDIS_URL",
    "OPENIM_REDIS_SENTINEL_MASTER",
    "OPENIM_REDIS_CACHE_TOPIC",
)
# OpenIM's published defaults: anyone who has read its docs knows them.
KNOWN_SECRETS = frozenset({"tuoyun", "openIM123", "open_im_server", "openIM", "openim"})
MIN_SECRET_LENGTH = 16


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says how to fix it."""


def instance_path() -> str:
    return os.environ.get("OPENIM_INSTANCE_PATH") or default_instance_path()


def environment_setting(key: str, test_config: dict | None):
    """One of ENVIRONMENT_KEYS: from the environment only (or the tests' config), as the gunicorn settings see it."""
    if test_config is not None and key in test_config:
        return test_config[key]
    return os.environ.get(key, ENVIRONMENT_KEYS[key])


def log_format(test_config: dict | None) -> str:
    """OPENIM_LOG_FORMAT, `text` or `json`: known before the rest, so that loading the rest logs in it."""
    value = environment_setting("OPENIM_LOG_FORMAT", test_config)
    if value not in LOG_FORMATS:
        raise ConfigError(f"OPENIM_LOG_FORMAT is {value!r}; it must be one of: {', '.join(LOG_FORMATS)}.")
    return value


def load_config(app: Flask, test_config: dict | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "openim.db")
    if test_config is None:
        os.makedirs(app.instance_path, exist_ok=True)
        ensure_secrets(app)
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
        for key in STRING_KEYS:
            raw = os.environ.get(f"FLASK_{key}")
            if raw is not None:
                app.config[key] = raw
    else:
        app.config.from_mapping(test_config)
    app.config.from_mapping({key: environment_setting(key, test_config) for key in ENVIRONMENT_KEYS})
    check_secrets(app.config)
    check_token_lifecycle(app.config)
    check_operations(app.config)
    check_openim_redis(app.config)


def ensure_secrets(app: Flask) -> None:
    """Write random secrets into instance/config.py for those not configured.

    Several gunicorn workers may start at once: a lock file makes exactly one
    of them write, and the others then read what it wrote.
    """
    if all(f"FLASK_{key}" in os.environ for key in GENERATED_SECRETS):
        return
    config_file = Path(app.instance_path, "config.py")
    with open(Path(app.instance_path, ".config.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        present = _keys_in_pyfile(config_file)
        missing = [key for key in GENERATED_SECRETS if key not in present and f"FLASK_{key}" not in os.environ]
        if not missing:
            return
        lines = [f"# Generated by openim-auth at first run, {time.strftime('%Y-%m-%d')}.\n"]
        lines += [f"{key} = {secrets.token_urlsafe(32)!r}\n" for key in missing]
        # Created 0600 from the start: no moment at which others can read the secrets.
        descriptor = os.open(config_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(descriptor, "a", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.writelines(lines)
        logger.warning(
            "Generated %s in %s; the AppServer needs OPENIM_SECRET from there.",
            " and ".join(missing),
            config_file,
        )


def _keys_in_pyfile(path: Path) -> set[str]:
    if not path.exists():
        return set()
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return {key for key in namespace if key.isupper()}


def weak_reason(secret) -> str | None:
    if not isinstance(secret, str) or not secret:
        return "is not set"
    if secret in KNOWN_SECRETS:
        return "is a published OpenIM default"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def allow_weak_secrets(value) -> bool:
    """The setting as a boolean; `FLASK_…=no` is a string, and must not count as true."""
    return switch("OPENIM_ALLOW_WEAK_SECRETS", value)


def switch(name: str, value) -> bool:
    """A true/false setting, which the environment gives as a word."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ConfigError(f"{name} must be true or false, not {value!r}.")
        return word in TRUE_WORDS
    return bool(value)


def check_secrets(config) -> None:
    """Refuse known or short secrets unless OPENIM_ALLOW_WEAK_SECRETS is true."""
    candidates = [
        ("OPENIM_SECRET", config.get("OPENIM_SECRET")),
        ("OPENIM_TOKEN_SECRET", config.get("OPENIM_TOKEN_SECRET")),
    ]
    for key in ("OPENIM_PREVIOUS_SECRETS", "OPENIM_PREVIOUS_TOKEN_SECRETS"):
        values = config.get(key) or []
        if isinstance(values, str) or not isinstance(values, list):
            raise ConfigError(f"{key} must be a list of strings (JSON in the environment).")
        candidates += [(f"{key}[{i}]", value) for i, value in enumerate(values)]

    for name, value in candidates:
        if value is None or value == "":
            raise ConfigError(f"{name} is not set: set it in instance/config.py or FLASK_{name}.")
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string (a JSON list of strings for OPENIM_PREVIOUS_*).")
    weak = [(name, reason) for name, value in candidates if (reason := weak_reason(value))]
    if not weak:
        return
    described = "; ".join(f"{name} {reason}" for name, reason in weak)
    if not allow_weak_secrets(config.get("OPENIM_ALLOW_WEAK_SECRETS")):
        raise ConfigError(
            f"Weak secret: {described}. Use a long random secret, or set "
            "OPENIM_ALLOW_WEAK_SECRETS = True while migrating from OpenIM."
        )
    logger.warning("OPENIM_ALLOW_WEAK_SECRETS is on and %s: change it soon.", described)


def check_token_lifecycle(config) -> None:
    """OPENIM_MULTI_LOGIN names a policy; OPENIM_MANAGER_UIDS is a list of userIDs;
    OPENIM_MAX_TOKENS_PER_PLATFORM is a positive integer (docs/api-v2.md)."""
    policy = config.get("OPENIM_MULTI_LOGIN")
    if policy not in MULTI_LOGIN_POLICIES:
        raise ConfigError(f"OPENIM_MULTI_LOGIN is {policy!r}; it must be one of: {', '.join(MULTI_LOGIN_POLICIES)}.")
    managers = config.get("OPENIM_MANAGER_UIDS")
    # A string would make `in` a substring test: "adm" would be a manager of "admin".
    if not isinstance(managers, list) or not all(isinstance(user_id, str) for user_id in managers):
        raise ConfigError("OPENIM_MANAGER_UIDS must be a list of userIDs (JSON in the environment).")
    bound = config.get("OPENIM_MAX_TOKENS_PER_PLATFORM")
    if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
        raise ConfigError(f"OPENIM_MAX_TOKENS_PER_PLATFORM is {bound!r}; it must be a whole number of at least 1.")


def check_operations(config) -> None:
    """The log format, the metrics switch, and who may read /metrics (docs/operations.md, "Metrics")."""
    log_format({"OPENIM_LOG_FORMAT": config["OPENIM_LOG_FORMAT"]})
    config["OPENIM_METRICS"] = switch("OPENIM_METRICS", config.get("OPENIM_METRICS"))
    allowed = config.get("OPENIM_METRICS_ALLOW")
    if isinstance(allowed, str) or not isinstance(allowed, list):
        raise ConfigError(
            'OPENIM_METRICS_ALLOW must be a list of networks such as "10.0.0.0/8" (JSON in the environment).'
        )
    for network in allowed:
        try:
            ipaddress.ip_network(network)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"OPENIM_METRICS_ALLOW: {network!r} is not a network: {error}.") from None
    token = config.get("OPENIM_METRICS_TOKEN")
    if token in (None, ""):
        config["OPENIM_METRICS_TOKEN"] = None
    elif not isinstance(token, str) or weak_reason(token):
        raise ConfigError(
            f"OPENIM_METRICS_TOKEN must be a string of at least {MIN_SECRET_LENGTH} characters, or unset."
        )


REDIS_MODES = ("standalone", "cluster", "sentinel")
REDIS_SCHEMES = ("redis", "rediss")


def check_openim_redis(config) -> None:
    """OPENIM_REDIS_*: a redis:// or rediss:// URL or nothing, a mode of OpenIM's redis.yml, its sentinels."""
    url = config.get("OPENIM_REDIS_URL")
    if url in (None, ""):
        config["OPENIM_REDIS_URL"] = None
        return
    if not isinstance(url, str) or urlsplit(url).scheme not in REDIS_SCHEMES:
        raise ConfigError("OPENIM_REDIS_URL must be redis://[user:password@]host:port/db (rediss:// for TLS).")
    parts = urlsplit(url)
    try:
        database = int(parts.path.strip("/") or 0)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ConfigError("OPENIM_REDIS_URL: the port and the database must be numbers.") from None
    mode = config.get("OPENIM_REDIS_MODE")
    if mode not in REDIS_MODES:
        raise ConfigError(f"OPENIM_REDIS_MODE is {mode!r}; it must be one of: {', '.join(REDIS_MODES)}.")
    if mode == "cluster" and database != 0:
        raise ConfigError("OPENIM_REDIS_URL: a Redis Cluster has database 0 only.")
    if mode != "sentinel" and not parts.hostname:
        raise ConfigError("OPENIM_REDIS_URL names no host.")
    addresses = config.get("OPENIM_REDIS_SENTINEL_ADDRESSES")
    if isinstance(addresses, str) or not isinstance(addresses, list):
        raise ConfigError('OPENIM_REDIS_SENTINEL_ADDRESSES must be a list such as ["10.0.0.5:26379"] (JSON).')
    for address in addresses:
        host, _, port = str(address).rpartition(":")
        if not isinstance(address, str) or not host or not port.isdigit():
            raise ConfigError(f"OPENIM_REDIS_SENTINEL_ADDRESSES: {address!r} is not host:port.")
    if mode == "sentinel" and (not addresses or not config.get("OPENIM_REDIS_SENTINEL_MASTER")):
        raise ConfigError(
            "OPENIM_REDIS_MODE sentinel needs OPENIM_REDIS_SENTINEL_MASTER and OPENIM_REDIS_SENTINEL_ADDRESSES."
        )
    topic = config.get("OPENIM_REDIS_CACHE_TOPIC")
    if topic is None:
        config["OPENIM_REDIS_CACHE_TOPIC"] = ""
    elif not isinstance(topic, str):
        raise ConfigError("OPENIM_REDIS_CACHE_TOPIC must be a string (empty: publish nothing).")
