"""Who may call what: the API secret, login tokens and managers (SPEC §2, §9, §10)."""

import hmac
from dataclasses import dataclass

from flask import current_app

from app.errors import NoPermission, SecretMismatch
from app.rules import users
from app.storage import token_records


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


def is_manager(user_id: str) -> bool:
    """Listed in OPENIM_MANAGER_UIDS and registered."""
    return user_id in current_app.config["OPENIM_MANAGER_UIDS"] and users.is_registered(user_id)


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a user by a login token, or the AppServer by the API secret."""

    user_id: str | None  # None: the API secret
    is_manager: bool

    @property
    def is_admin(self) -> bool:
        """The API secret or a manager's token: may act on any user."""
        return self.user_id is None or self.is_manager

    def may_see_private_fields(self, user_id: str) -> bool:
        """phoneNumber, birth and email: of one's own record, or of any for an admin."""
        return self.is_admin or self.user_id == user_id

    def require_admin(self) -> None:
        if not self.is_admin:
            raise NoPermission()

    def require_self_or_admin(self, user_id: str) -> None:
        if not (self.is_admin or self.user_id == user_id):
            raise NoPermission()


def authenticate(secret: str | None, token: str | None) -> Caller:
    """The caller of a route that takes body `secret` or header `token`; either suffices.

    A matching secret wins. Otherwise the token decides (70x when it is bad or
    missing), unless there is none and a secret was sent: then that secret is
    wrong (401).
    """
    if secret is not None and secret_matches(secret):
        return Caller(user_id=None, is_manager=False)
    if token is None and secret is not None:
        raise SecretMismatch()
    owner = token_records.parse_token(token)
    return Caller(user_id=owner.user_id, is_manager=is_manager(owner.user_id))
