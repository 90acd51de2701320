"""OpenIM v2 login tokens (SPEC §4).

A token is an HS256 JWT whose payload is exactly what OpenIM's Go server
writes: `{"UID":…,"Platform":…,"exp":…,"nbf":…,"iat":…}`, compact, in that
order, encoded as Go's encoding/json encodes it. PyJWT's encoder cannot produce
those bytes (it escapes non-ASCII), so minting is done here with hmac;
verifying uses PyJWT, always naming `algorithms=["HS256"]`.

Token records (SPEC §9): every issue is recorded by the token's SHA-256 in the
database all instances share, so a kick through one instance is seen by all.
"""
import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass

import jwt
from flask import current_app
from jwt.algorithms import HMACAlgorithm
from sqlalchemy import ColumnElement, bindparam, delete, distinct, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app import gojson
from app.database import mysql_error_code, retry_transient, run_in_transaction
from app.errors import TokenExpired, TokenKicked, TokenMalformed, TokenNotValidYet, TokenUnknown
from app.extensions import db
from app.models import TokenRecord, TokenStatus

logger = logging.getLogger(__name__)

PLATFORM_NAMES = {
    1: "IOS",
    2: "Android",
    3: "Windows",
    4: "OSX",
    5: "Web",
    6: "MiniWeb",
    7: "Linux",
    8: "APad",
    9: "IPad",
}
SECONDS_PER_DAY = 24 * 60 * 60
# OPENIM_MULTI_LOGIN: which earlier tokens of a user a new token kicks.
MULTI_LOGIN_POLICIES = ("keep", "kick_same_platform", "single")

# Expired records are pruned by the issuing requests themselves, no cron job:
# the issue whose record id is a multiple of PRUNE_EVERY deletes at most
# PRUNE_BATCH expired rows. Ids come from the shared database, so the work is
# spread over all instances and costs the other PRUNE_EVERY - 1 issues nothing;
# deleting up to PRUNE_BATCH rows per PRUNE_EVERY inserts outruns the inserts,
# so a backlog drains, while no single request pays for more than one batch.
PRUNE_EVERY = 128
PRUNE_BATCH = 1000
# Instances' clocks differ a little: keep records a while past their expiry so
# that no instance still accepting a token finds its record gone.
PRUNE_GRACE_SECONDS = 3600
_HEADER = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}


@dataclass(frozen=True)
class IssuedToken:
    user_id: str
    platform: int
    token: str
    issued_at: int
    expires_at: int


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def mint_token(user_id: str, platform: int, key: str, expire_days: int, now: int) -> IssuedToken:
    """The token OpenIM would mint for this user, platform, key and second."""
    expires_at = now + expire_days * SECONDS_PER_DAY
    claims = {"UID": user_id, "Platform": PLATFORM_NAMES[platform], "exp": expires_at, "nbf": now, "iat": now}
    signing_input = _HEADER + b"." + _b64url(gojson.dumps(claims).encode("utf-8"))
    signature = hmac.new(key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + _b64url(signature)).decode("ascii")
    return IssuedToken(user_id, platform, token, now, expires_at)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


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


def mint_app_token(user_id: str, platform: int) -> IssuedToken:
    """mint_token with the app's key, lifetime and clock."""
    config = current_app.config
    now = int(config["OPENIM_CLOCK"]())
    return mint_token(user_id, platform, config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"], now)


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
    now = int(current_app.config["OPENIM_CLOCK"]())
    rows = db.session.execute(
        select(TokenRecord.platform, func.count(distinct(TokenRecord.token_hash)), func.max(TokenRecord.expires_at))
        .where(
            TokenRecord.user_id == user_id,
            TokenRecord.status == TokenStatus.normal,
            TokenRecord.expires_at > now,
        )
        .group_by(TokenRecord.platform)
        .order_by(TokenRecord.platform)
    ).all()
    return [LiveTokens(platform, count, last_expires_at) for platform, count, last_expires_at in rows]


class _ConfiguredKeyHS256(HMACAlgorithm):
    """HS256 without PyJWT's per-call warning about keys under 32 bytes.

    Weak keys are refused, or allowed and warned about once, at start-up.
    """

    def check_key_length(self, key) -> None:
        return None


_jws = jwt.PyJWS(algorithms=["HS256"])
_jws.unregister_algorithm("HS256")
_jws.register_algorithm("HS256", _ConfiguredKeyHS256(HMACAlgorithm.SHA256))
_CLAIM_TYPES = {"UID": str, "Platform": str, "exp": int, "nbf": int, "iat": int}


def verify_token(token: str, keys: list[str], now: int) -> dict:
    """The claims of a token signed with one of `keys`, checked at `now`.

    Raises in SPEC §9's order: TokenMalformed, TokenUnknown (bad signature or
    any algorithm but HS256), TokenExpired, TokenNotValidYet.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenMalformed() from None
    if header.get("alg") != "HS256":
        raise TokenUnknown()
    for key in keys:
        try:
            payload = _jws.decode(token, key, algorithms=["HS256"])
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise TokenMalformed() from None
    else:
        raise TokenUnknown()
    try:
        claims = gojson.loads(payload)
    except ValueError:
        raise TokenMalformed() from None
    if not isinstance(claims, dict) or any(
        type(claims.get(name)) is not kind for name, kind in _CLAIM_TYPES.items()
    ):
        raise TokenMalformed()
    if now >= claims["exp"]:
        raise TokenExpired()
    if now < claims["nbf"]:
        raise TokenNotValidYet()
    return claims


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    platform: int
    expires_at: int


def parse_token(token: str | None) -> TokenOwner:
    """Whose a live token is: verified with the current or a previous key, recorded, not kicked.

    Raises in SPEC §9's order: the errors of verify_token, then TokenUnknown
    (never issued here) and TokenKicked.
    """
    if not token:
        raise TokenMalformed()
    config = current_app.config
    keys = [config["OPENIM_TOKEN_SECRET"], *config["OPENIM_PREVIOUS_TOKEN_SECRETS"]]
    claims = verify_token(token, keys, int(config["OPENIM_CLOCK"]()))
    records = db.session.execute(
        select(TokenRecord.platform, TokenRecord.status).where(TokenRecord.token_hash == token_digest(token))
    ).all()
    if not records:
        raise TokenUnknown()
    # A token issued again after a kick (byte-identical, same second) has a
    # normal record besides the kicked one, and is valid.
    if all(record.status is TokenStatus.kicked for record in records):
        raise TokenKicked()
    return TokenOwner(claims["UID"], records[0].platform, claims["exp"])
