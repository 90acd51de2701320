"""OpenIM v3's tokens (SPEC §12): admin tokens, and user tokens that an admin asks for.

Rules with no HTTP in them. Who is an admin comes from OPENIM_MANAGER_UIDS
alone, as in OpenIM v3, which creates its admins at start-up: an admin need
not be registered here. Every token is recorded like a v2 one, so kicks,
multi-login and pruning apply to both dialects alike.
"""

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from app import metrics
from app.errors import InvalidInput, NoPermission, UserNotFound
from app.jwt_tokens import IssuedToken
from app.openim import ADMIN_PLATFORM, V3_PLATFORM_NAMES
from app.rules.access import require_secret
from app.storage import token_records
from app.storage.database import run_in_transaction
from app.storage.models import User

_users = User.__table__
_select_user = select(_users.c.user_id).where(_users.c.user_id == bindparam("user_id"))


def is_admin(user_id: str) -> bool:
    return user_id in current_app.config["OPENIM_MANAGER_UIDS"]


def require_admin(user_id: str) -> None:
    if not is_admin(user_id):
        raise NoPermission("only an admin may do this")


def require_self_or_admin(caller_id: str, user_id: str) -> None:
    if caller_id != user_id and not is_admin(caller_id):
        raise NoPermission("only the user itself or an admin may do this")


def issue_admin_token(secret: str, user_id: str) -> IssuedToken:
    """A platform-10 token for an admin, recorded; SecretMismatch, or InvalidInput for a userID not an admin."""
    require_secret(secret)
    if not is_admin(user_id):
        raise InvalidInput("userID: not an admin (OPENIM_MANAGER_UIDS)", fields={"userID": ["Not an admin."]})
    issued = token_records.mint_app_v3_token(user_id, ADMIN_PLATFORM)
    token_records.prune_if_due(
        run_in_transaction(lambda connection: token_records.record_token(connection, issued, recorded_for="anyone"))
    )
    metrics.count_token(ADMIN_PLATFORM)
    return issued


def issue_user_token(user_id: str, platform: int) -> IssuedToken:
    """A v3 token for an ordinary registered user, minted and recorded, checked in SPEC §12's order.

    Platform 10 → NoPermission, outside 1–11 → InvalidInput; an admin → NoPermission;
    unknown → UserNotFound; a notification or bot account → InvalidInput.
    """
    if platform == ADMIN_PLATFORM:
        raise NoPermission("platformID: 10 (Admin) is for admin tokens only")
    if platform not in V3_PLATFORM_NAMES:
        raise InvalidInput("platformID: not a platform", fields={"platformID": ["Must be from 1 to 11."]})
    if is_admin(user_id):
        raise NoPermission("userID: an admin's token comes from get_admin_token")
    issued = token_records.mint_app_v3_token(user_id, platform)

    def record(connection: Connection) -> token_records.RecordedToken:
        try:
            return token_records.record_token(connection, issued, recorded_for="ordinary")
        except UserNotFound:
            if connection.execute(_select_user, {"user_id": user_id}).first() is None:
                raise
        raise InvalidInput(
            "userID: a notification or bot account gets no user token",
            fields={"userID": ["A notification or bot account (appMangerLevel 3 or 4)."]},
        )

    token_records.prune_if_due(run_in_transaction(record))
    metrics.count_token(platform)
    return issued
