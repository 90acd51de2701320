"""Who may call what (docs/api-v2.md and docs/api-v3.md): the API secret, v2's managers and v3's admins.

Both come from OPENIM_MANAGER_UIDS. A v3 admin is any userID of that list, as
OpenIM v3 creates its admins at start-up; a v2 manager must also be registered.
"""

import hmac
from dataclasses import dataclass

from flask import current_app

from app.errors import NoPermission, SecretMismatch
from app.rules import tokens
from app.storage import user_rows


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


def is_admin_id(user_id: str) -> bool:
    """Listed in OPENIM_MANAGER_UIDS: a v3 admin, and a v2 manager once registered."""
    return user_id in current_app.config["OPENIM_MANAGER_UIDS"]


def is_v3_admin(user_id: str) -> bool:
    return is_admin_id(user_id)


def is_v2_manager(user_id: str) -> bool:
    return is_admin_id(user_id) and user_rows.is_registered(user_id)


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a user by a login token, or the AppServer by the API secret."""

    user_id: str | None  # None: the API secret
    privileged: bool  # may act on any user: the API secret, a v2 manager's or a v3 admin's token

    def may_see_private_fields(self, user_id: str) -> bool:
        """v2's phoneNumber, birth and email: of one's own record, or of any for the privileged."""
        return self.privileged or self.user_id == user_id

    def require_privileged(self) -> None:
        if not self.privileged:
            raise NoPermission()

    def require_self_or_privileged(self, user_id: str) -> None:
        if not self.may_see_private_fields(user_id):
            raise NoPermission()


def v2_caller(secret: str | None, token: str | None) -> Caller:
    """The caller of a v2 route that takes body `secret` or header `token`; either suffices.

    A matching secret wins. Otherwise the token decides (70x when it is bad or
    missing), unless there is none and a secret was sent: then that secret is
    wrong (401).
    """
    if secret is not None and secret_matches(secret):
        return Caller(user_id=None, privileged=True)
    if token is None and secret is not None:
        raise SecretMismatch()
    owner = tokens.check(token, tokens.V2)
    return Caller(owner.user_id, privileged=is_v2_manager(owner.user_id))


def v3_caller(token: str) -> Caller:
    """The caller of a v3 route, by its `token` header (15xx when bad)."""
    owner = tokens.check(token, tokens.V3)
    return Caller(owner.user_id, privileged=is_v3_admin(owner.user_id))
