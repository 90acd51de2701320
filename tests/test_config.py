"""Configuration (docs/configuration.md): precedence, the instance folder, first-run secrets,
the weak-secret check, and no PyJWT key-length warnings with OpenIM's key."""

import base64
import json
import logging
import multiprocessing
import os
import secrets
import stat
import time
import warnings

import jwt
import pytest

from app import create_app
from app.config import ConfigError
from app.jwt_tokens import verify_token
from app.rules import tokens
from tests.helpers import base_config

STRONG_SECRET = "a-strong-api-secret-for-config-tests"
STRONG_TOKEN_SECRET = "a-strong-token-key-for-config-tests"
WEAK_SECRETS = ["tuoyun", "openIM123", "open_im_server", "short-secret-15"]


@pytest.fixture
def instance_dir(tmp_path, monkeypatch):
    """An empty instance folder named by OPENIM_INSTANCE_PATH, and no FLASK_* variables."""
    for name in list(os.environ):
        if name.startswith("FLASK_"):
            monkeypatch.delenv(name)
    path = tmp_path / "instance"
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(path))
    return path


def write_instance_config(instance_dir, text: str) -> None:
    instance_dir.mkdir(exist_ok=True)
    (instance_dir / "config.py").write_text(text, encoding="utf-8")


def strong_secrets_in_env(monkeypatch) -> None:
    monkeypatch.setenv("FLASK_OPENIM_SECRET", STRONG_SECRET)
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", STRONG_TOKEN_SECRET)


def generated_secrets(config_file) -> dict:
    namespace: dict = {}
    exec(config_file.read_text(encoding="utf-8"), namespace)
    return {key: namespace[key] for key in ("OPENIM_SECRET", "OPENIM_TOKEN_SECRET")}


def entropy_bytes(secret: str) -> int:
    """How many random bytes a token_urlsafe secret carries."""
    return len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))


# --- precedence and the instance folder ------------------------------------


def test_instance_path_comes_from_openim_instance_path(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    app = create_app()
    assert app.instance_path == str(instance_dir)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance_dir / 'openim.db'}"


def test_instance_config_overrides_defaults_and_environment_overrides_both(instance_dir, monkeypatch):
    write_instance_config(
        instance_dir,
        f"OPENIM_SECRET = {STRONG_SECRET!r}\n"
        f"OPENIM_TOKEN_SECRET = {STRONG_TOKEN_SECRET!r}\n"
        "OPENIM_TOKEN_EXPIRE_DAYS = 3\n"
        "MAX_CONTENT_LENGTH = 1000\n",
    )
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_EXPIRE_DAYS", "5")
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "a-secret-from-the-environment")
    config = create_app().config
    assert config["OPENIM_MULTI_LOGIN"] == "keep"  # default
    assert config["MAX_CONTENT_LENGTH"] == 1000  # instance over default
    assert config["OPENIM_TOKEN_SECRET"] == STRONG_TOKEN_SECRET
    assert config["OPENIM_TOKEN_EXPIRE_DAYS"] == 5  # environment over instance
    assert config["OPENIM_SECRET"] == "a-secret-from-the-environment"


def test_defaults(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    config = create_app().config
    assert config["OPENIM_TOKEN_EXPIRE_DAYS"] == 7
    assert config["MAX_CONTENT_LENGTH"] == 65536
    assert config["OPENIM_ALLOW_WEAK_SECRETS"] is False
    assert config["OPENIM_MANAGER_UIDS"] == []
    assert config["OPENIM_MULTI_LOGIN"] == "keep"


def test_list_values_in_the_environment_are_json(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv("FLASK_OPENIM_MANAGER_UIDS", '["admin", "ops"]')
    monkeypatch.setenv("FLASK_OPENIM_PREVIOUS_SECRETS", '["an-older-api-secret-0001"]')
    config = create_app().config
    assert config["OPENIM_MANAGER_UIDS"] == ["admin", "ops"]
    assert config["OPENIM_PREVIOUS_SECRETS"] == ["an-older-api-secret-0001"]


@pytest.mark.parametrize("key", ["OPENIM_SECRET", "OPENIM_TOKEN_SECRET"])
@pytest.mark.parametrize("looks_like", ["12345678901234567890123", "1e400000000000000000", "0012345678901234567"])
def test_a_secret_that_looks_like_a_json_number_stays_a_string(instance_dir, monkeypatch, key, looks_like):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv(f"FLASK_{key}", looks_like)
    assert create_app().config[key] == looks_like


# --- first run ---------------------------------------------------------------


def test_first_run_writes_random_secrets_readable_only_by_the_owner(instance_dir, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app()
    config_file = instance_dir / "config.py"
    written = generated_secrets(config_file)

    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    for key, secret in written.items():
        assert app.config[key] == secret
        assert entropy_bytes(secret) >= 32
    assert written["OPENIM_SECRET"] != written["OPENIM_TOKEN_SECRET"]

    messages = [record.getMessage() for record in caplog.records]
    assert any(str(config_file) in message for message in messages)
    for secret in written.values():
        assert secret not in caplog.text


def test_every_first_run_generates_different_secrets(tmp_path, monkeypatch, instance_dir):
    create_app()
    first = generated_secrets(instance_dir / "config.py")
    other_instance = tmp_path / "other-instance"
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(other_instance))
    create_app()
    second = generated_secrets(other_instance / "config.py")
    assert not set(first.values()) & set(second.values())


def test_later_runs_keep_the_generated_secrets(instance_dir, caplog):
    first = create_app().config
    config_file = instance_dir / "config.py"
    written = config_file.read_bytes()
    caplog.clear()
    second = create_app().config
    assert config_file.read_bytes() == written
    assert (second["OPENIM_SECRET"], second["OPENIM_TOKEN_SECRET"]) == (
        first["OPENIM_SECRET"],
        first["OPENIM_TOKEN_SECRET"],
    )
    assert "Generated" not in caplog.text


def test_only_the_missing_secret_is_generated(instance_dir):
    write_instance_config(instance_dir, f"OPENIM_SECRET = {STRONG_SECRET!r}\n")
    config = create_app().config
    assert config["OPENIM_SECRET"] == STRONG_SECRET
    assert entropy_bytes(config["OPENIM_TOKEN_SECRET"]) >= 32
    assert generated_secrets(instance_dir / "config.py")["OPENIM_SECRET"] == STRONG_SECRET


def test_nothing_is_written_when_the_environment_has_the_secrets(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    create_app()
    assert not (instance_dir / "config.py").exists()


def test_there_is_no_built_in_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    config = base_config(f"sqlite:///{tmp_path / 'unused.db'}")
    del config["OPENIM_SECRET"]
    with pytest.raises(ConfigError, match="OPENIM_SECRET is not set"):
        create_app(config)


def start_app_and_report_secrets(barrier, results) -> None:
    barrier.wait()
    config = create_app().config
    results.put((config["OPENIM_SECRET"], config["OPENIM_TOKEN_SECRET"]))


def test_processes_starting_together_on_an_empty_instance_share_one_config(instance_dir, monkeypatch):
    """As gunicorn workers do on first run: one writes, the others read what it wrote."""
    token_urlsafe = secrets.token_urlsafe

    def slow_token_urlsafe(nbytes):
        time.sleep(0.05)  # widens the window between "no secrets yet" and writing them
        return token_urlsafe(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", slow_token_urlsafe)
    context = multiprocessing.get_context("fork")  # the children start with the app imported
    process_count = 8
    barrier = context.Barrier(process_count)
    results = context.Queue()
    processes = [
        context.Process(target=start_app_and_report_secrets, args=(barrier, results)) for _ in range(process_count)
    ]
    for process in processes:
        process.start()
    seen = {results.get(timeout=30) for _ in processes}
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    assert len(seen) == 1
    text = (instance_dir / "config.py").read_text(encoding="utf-8")
    assert text.count("OPENIM_SECRET =") == 1
    assert text.count("OPENIM_TOKEN_SECRET =") == 1
    assert seen.pop() == tuple(generated_secrets(instance_dir / "config.py").values())


# --- weak secrets ------------------------------------------------------------


@pytest.mark.parametrize("key", ["OPENIM_SECRET", "OPENIM_TOKEN_SECRET"])
@pytest.mark.parametrize("weak", WEAK_SECRETS)
def test_a_weak_secret_in_the_environment_stops_start_up(instance_dir, monkeypatch, key, weak):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv(f"FLASK_{key}", weak)
    with pytest.raises(ConfigError) as raised:
        create_app()
    message = str(raised.value)
    assert "OPENIM_ALLOW_WEAK_SECRETS" in message
    assert key in message
    assert weak not in message


@pytest.mark.parametrize("key", ["OPENIM_SECRET", "OPENIM_TOKEN_SECRET"])
def test_a_weak_secret_in_the_instance_config_stops_start_up(instance_dir, key):
    values = {"OPENIM_SECRET": STRONG_SECRET, "OPENIM_TOKEN_SECRET": STRONG_TOKEN_SECRET, key: "tuoyun"}
    write_instance_config(instance_dir, "".join(f"{name} = {value!r}\n" for name, value in values.items()))
    with pytest.raises(ConfigError, match="OPENIM_ALLOW_WEAK_SECRETS"):
        create_app()


def test_a_sixteen_character_secret_is_long_enough(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "sixteen-chars-ok")
    assert create_app().config["OPENIM_SECRET"] == "sixteen-chars-ok"


@pytest.mark.parametrize("allow", ["true", "1", "yes"])
def test_allowed_weak_secrets_start_and_warn_at_every_start(instance_dir, monkeypatch, caplog, allow):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "tuoyun")
    monkeypatch.setenv("FLASK_OPENIM_TOKEN_SECRET", "open_im_server")
    monkeypatch.setenv("FLASK_OPENIM_ALLOW_WEAK_SECRETS", allow)
    for _ in range(2):
        config = create_app().config
        assert (config["OPENIM_SECRET"], config["OPENIM_TOKEN_SECRET"]) == ("tuoyun", "open_im_server")
    warnings_logged = [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and "OPENIM_ALLOW_WEAK_SECRETS" in record.getMessage()
    ]
    assert len(warnings_logged) == 2
    assert "OPENIM_SECRET" in warnings_logged[0].getMessage()
    assert "OPENIM_TOKEN_SECRET" in warnings_logged[0].getMessage()


def test_weak_secrets_allowed_in_the_instance_config(instance_dir):
    write_instance_config(
        instance_dir,
        "OPENIM_SECRET = 'tuoyun'\nOPENIM_TOKEN_SECRET = 'open_im_server'\nOPENIM_ALLOW_WEAK_SECRETS = True\n",
    )
    assert create_app().config["OPENIM_SECRET"] == "tuoyun"


@pytest.mark.parametrize("refusal", ["false", "0", "no", "off"])
def test_allow_weak_secrets_set_to_a_false_word_still_refuses(instance_dir, monkeypatch, refusal):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "tuoyun")
    monkeypatch.setenv("FLASK_OPENIM_ALLOW_WEAK_SECRETS", refusal)
    with pytest.raises(ConfigError, match="OPENIM_ALLOW_WEAK_SECRETS"):
        create_app()


def test_allow_weak_secrets_set_to_nonsense_is_an_error(instance_dir, monkeypatch):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv("FLASK_OPENIM_SECRET", "tuoyun")
    monkeypatch.setenv("FLASK_OPENIM_ALLOW_WEAK_SECRETS", "maybe")
    with pytest.raises(ConfigError, match="OPENIM_ALLOW_WEAK_SECRETS must be true or false"):
        create_app()


@pytest.mark.parametrize("key", ["OPENIM_PREVIOUS_SECRETS", "OPENIM_PREVIOUS_TOKEN_SECRETS"])
@pytest.mark.parametrize("weak", WEAK_SECRETS)
def test_weak_previous_secrets_follow_the_same_rule(instance_dir, monkeypatch, caplog, key, weak):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv(f"FLASK_{key}", json.dumps(["an-older-strong-secret-0001", weak]))
    with pytest.raises(ConfigError) as raised:
        create_app()
    assert "OPENIM_ALLOW_WEAK_SECRETS" in str(raised.value)
    assert f"{key}[1]" in str(raised.value)

    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("FLASK_OPENIM_ALLOW_WEAK_SECRETS", "true")
    assert create_app().config[key] == ["an-older-strong-secret-0001", weak]
    assert f"{key}[1]" in caplog.text


@pytest.mark.parametrize("value", ['"not-a-list-but-a-long-string"', "[12345678901234567890]"])
def test_previous_secrets_must_be_a_list_of_strings(instance_dir, monkeypatch, value):
    strong_secrets_in_env(monkeypatch)
    monkeypatch.setenv("FLASK_OPENIM_PREVIOUS_SECRETS", value)
    with pytest.raises(ConfigError, match="OPENIM_PREVIOUS_SECRETS"):
        create_app()


def test_the_test_config_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENIM_INSTANCE_PATH", str(tmp_path))
    config = {**base_config(f"sqlite:///{tmp_path / 'unused.db'}"), "OPENIM_TOKEN_SECRET": "open_im_server"}
    with pytest.raises(ConfigError, match="OPENIM_ALLOW_WEAK_SECRETS"):
        create_app(config)


# --- OpenIM's default key and PyJWT ------------------------------------------


def test_openim_default_key_mints_and_verifies_without_key_length_warnings(make_app):
    app = make_app(OPENIM_TOKEN_SECRET="open_im_server", OPENIM_ALLOW_WEAK_SECRETS=True)
    # PyJWT itself does warn about this key, so the check below is not vacuous.
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        jwt.encode({"UID": "x"}, "open_im_server", algorithm="HS256")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with app.app_context():
            issued = tokens.mint("openIM1111", 1)
            claims = verify_token(issued.token, ["open_im_server"], issued.issued_at)
    assert claims["UID"] == "openIM1111"
