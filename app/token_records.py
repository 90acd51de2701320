"""Token records (SPEC §9): who was issued which token, and which were kicked.

Every issue is recorded by the token's SHA-256 (never the token) in the
database all instances share, so a kick through one instance is seen by all.
Minting and verifying the JWT itself is app/jwt_tokens.py's; this module
adds the app's key, lifetime and clock, and the records.
"""
import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, delete, distinct, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.database import mysql_error_code, retry_transient, run_in_transaction
from app.errors import TokenKicked, TokenMalformed, TokenNotRecorded
from app.extensions import db
from app.jwt_tokens import IssuedToken, mint_token, mint_v3_token, token_digest, verify_token, verify_v3_token
from app.models import TokenRecord, TokenStatus

logger = logging.getLogger(__name__)

# Expired records are pruned by the issuing requests themselves, no cron job:
# the issue whose record id is a multiple of PRUNE_EVERY deletes at most
# PRUNE_BATCH expired rows. Ids come from the database all instances use, so
# the work is spread over all instances and costs the other PRUNE_EVERY - 1
# issues nothing; deleting up to PRUNE_BATCH rows per PRUNE_EVERY inserts
# outruns the inserts, so a backlog drains, while no single request pays for
# more than one batch.
PRUNE_EVERY = 128
PRUNE_BATCH = 1000
# Instances' clocks differ a little: keep records a while past their expiry so
# that no instance still accepting a token finds its record gone.
PRUNE_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class RecordedToken:
    issued: IssuedToken
    record_id: int


# On the table, not the mapped class: plain Core statements, without the ORM's machinery.
_records = TokenRecord.__table__
_insert_record = insert(_records)
_select_expired = (
    select(_records.c.id).where(_records.c.expires_at <= bindparam("cutoff")).limit(bindparam("limit"))
)
_delete_records = delete(_records).where(_records.c.id.in_(bindparam("ids", expanding=True)))
_select_record_states = select(_records.c.platform, _records.c.status).where(
    _records.c.token_hash == bindparam("token_hash")
)


def app_now() -> int:
    """The app's clock (OPENIM_CLOCK, injected by tests), in whole seconds."""
    return int(current_app.config["OPENIM_CLOCK"]())


def mint_app_token(user_id: str, platform: int) -> IssuedToken:
    """mint_token with the app's key, lifetime and clock."""
    config = current_app.config
    return mint_token(user_id, platform, config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"], app_now())


def mint_app_v3_token(user_id: str, platform: int) -> IssuedToken:
    """mint_v3_token with the app's key, lifetime and clock."""
    config = current_app.config
    key, days = config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"]
    return mint_v3_token(user_id, platform, key, days, app_now())


def record_token(connection: Connection, issued: IssuedToken) -> RecordedToken:
    """Record a minted token in the connection's transaction, which the caller commits.

    Mint first, outside the transaction, so that write locks are held no longer
    than the statements take. After the commit, call prune_if_due.
    """
    result = connection.execute(
        _insert_record,
        {
            "token_hash": token_digest(issued.token),
            "user_id": issued.user_id,
            "platform": issued.platform,
            "status": TokenStatus.normal,
            "issued_at": issued.issued_at,
            "expires_at": issued.expires_at,
        },
    )
    record_id = result.inserted_primary_key[0]
    policy = current_app.config["OPENIM_MULTI_LOGIN"]
    kicked_by_new_token = _earlier_tokens_to_kick(issued.user_id, issued.platform, policy)
    if kicked_by_new_token is not None:
        # Every record but the new one, so that the new token is valid
        # even when byte-identical to one it kicks (same second).
        connection.execute(
            update(TokenRecord)
            .where(kicked_by_new_token, TokenRecord.id != record_id, TokenRecord.status == TokenStatus.normal)
            .values(status=TokenStatus.kicked)
        )
    return RecordedToken(issued, record_id)


def prune_if_due(recorded: RecordedToken) -> None:
    """Prune expired records when this record's turn has come (see PRUNE_EVERY).

    Housekeeping never fails the request: the token is issued and recorded by
    now, and the next due prune takes up the work.
    """
    if recorded.record_id % PRUNE_EVERY != 0:
        return
    try:
        prune_expired_records(recorded.issued.issued_at)
    except DBAPIError as error:
        logger.warning("pruning expired token records failed: %s %s", type(error).__name__, mysql_error_code(error))


def _earlier_tokens_to_kick(user_id: str, platform: int, policy: str) -> ColumnElement[bool] | None:
    if policy == "single":
        return TokenRecord.user_id == user_id
    if policy == "kick_same_platform":
        return (TokenRecord.user_id == user_id) & (TokenRecord.platform == platform)
    return None  # "keep": earlier tokens stay valid, as in OpenIM


def prune_expired_records(now: int, limit: int = PRUNE_BATCH) -> int:
    """Delete at most `limit` records that expired a grace period ago; returns how many.

    The expired ids are read first, without locks, and deleted by primary key:
    in the usual case, nothing has expired and nothing is written. A locking
    range scan of the expiry index (DELETE ... WHERE expires_at <= ...) held
    gap locks that Galera appliers ran into, aborting the prune with 1213.
    """
    cutoff = now - PRUNE_GRACE_SECONDS

    def prune(connection: Connection) -> int:
        expired = connection.execute(_select_expired, {"cutoff": cutoff, "limit": limit}).scalars().all()
        if not expired:
            return 0
        return connection.execute(_delete_records, {"ids": expired}).rowcount

    return run_in_transaction(prune)


def kick_tokens(user_id: str, platform: int | None = None) -> int:
    """Mark kicked every token of the user issued so far, on `platform` or on all.

    Returns how many records were kicked. Tokens issued afterwards are not affected.
    """
    conditions = [TokenRecord.user_id == user_id, TokenRecord.status == TokenStatus.normal]
    if platform is not None:
        conditions.append(TokenRecord.platform == platform)

    def kick() -> int:
        result = db.session.execute(update(TokenRecord).where(*conditions).values(status=TokenStatus.kicked))
        db.session.commit()
        return result.rowcount

    return retry_transient(kick)


@dataclass(frozen=True)
class LiveTokens:
    platform: int
    count: int
    last_expires_at: int


def live_tokens(user_id: str) -> list[LiveTokens]:
    """Per platform, how many distinct tokens of the user are live and when the last one expires."""
    rows = db.session.execute(
        select(TokenRecord.platform, func.count(distinct(TokenRecord.token_hash)), func.max(TokenRecord.expires_at))
        .where(
            TokenRecord.user_id == user_id,
            TokenRecord.status == TokenStatus.normal,
            TokenRecord.expires_at > app_now(),
        )
        .group_by(TokenRecord.platform)
        .order_by(TokenRecord.platform)
    ).all()
    return [LiveTokens(platform, count, last_expires_at) for platform, count, last_expires_at in rows]


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    platform: int
    expires_at: int


def _verification_keys() -> list[str]:
    config = current_app.config
    return [config["OPENIM_TOKEN_SECRET"], *config["OPENIM_PREVIOUS_TOKEN_SECRETS"]]


def parse_token(token: str | None) -> TokenOwner:
    """Whose a live OpenIM v2 token is: verified with the current or a previous key, recorded, not kicked.

    Raises in SPEC §9's order: the errors of verify_token, then
    TokenNotRecorded (never issued here) and TokenKicked.
    """
    if not token:
        raise TokenMalformed()
    claims = verify_token(token, _verification_keys(), app_now())
    return recorded_owner(token, claims["UID"], claims["exp"])


def parse_v3_token(token: str | None) -> TokenOwner:
    """parse_token for an OpenIM v3 token (SPEC §12): the same keys, the same record check."""
    if not token:
        raise TokenMalformed()
    claims = verify_v3_token(token, _verification_keys(), app_now())
    return recorded_owner(token, claims["UserID"], claims["exp"])


def recorded_owner(token: str, user_id: str, expires_at: int) -> TokenOwner:
    """The owner of a verified token, by its record: TokenNotRecorded or TokenKicked when it has none live.

    A prepared Core read on a pooled connection of its own: no ORM on the
    path every authenticated request takes, and no Session snapshot older
    than a kick.
    """
    with db.engine.connect() as connection:
        records = connection.execute(_select_record_states, {"token_hash": token_digest(token)}).all()
    if not records:
        raise TokenNotRecorded()
    # A token issued again after a kick (byte-identical, same second) has a
    # normal record besides the kicked one, and is valid.
    if all(record.status is TokenStatus.kicked for record in records):
        raise TokenKicked()
    return TokenOwner(user_id, records[0].platform, expires_at)
