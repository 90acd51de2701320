"""Who may call what: the API secret (SPEC §2, §9)."""
import hmac

from flask import current_app

from app.errors import SecretMismatch


def secret_matches(given: str) -> bool:
    """Constant-time comparison against the current and the previous API secrets."""
    config = current_app.config
    given_bytes = given.encode("utf-8")
    accepted = [config["OPENIM_SECRET"], *config["OPENIM_PREVIOUS_SECRETS"]]
    # Compare with every accepted secret, so the time does not tell which matched.
    matches = [hmac.compare_digest(given_bytes, secret.encode("utf-8")) for secret in accepted]
    return any(matches)


def require_secret(given: str) -> None:
    if not secret_matches(given):
        raise SecretMismatch()
