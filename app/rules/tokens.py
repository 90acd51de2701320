"""The token door (docs/api-v2.md and docs/api-v3.md): every token is issued, checked and kicked here.

Both dialects, the CLI and the tests come through these functions; nothing
else mints or records a token. Issue: mint (with the app's key, lifetime and
clock) → record, in one transaction with whatever the caller stores alongside
→ inside it, the multi-login policy's and the per-platform bound's kicks →
after the commit, prune when due and count. Check: verify the JWT with the
current or a previous key, then its record. The records' SQL is
app/storage/token_records.py's and record_writes.py's; this module decides
what they are asked. With OPENIM_REDIS_URL set, OpenIM's token state in
Redis is kept alongside, in app/rules/token_mirror.py's order of writes.
"""

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app import metrics
from app.errors import DatabaseUnavailable, InvalidInput, TokenKicked, TokenMalformed, TokenNotRecorded, UserNotFound
from app.extensions import db
from app.jwt_tokens import IssuedToken, mint_token, mint_v3_token, token_digest, verify_token, verify_v3_token
from app.openim import ADMIN_PLATFORM
from app.rules import clock, token_mirror
from app.storage import record_writes, retired_user_ids, token_record_reads, token_records, user_rows
from app.storage.database import fresh_read, mysql_error_code, run_in_transaction
from app.storage.models import TokenStatus

logger = logging.getLogger(__name__)

# Expired records are pruned by the issuing requests themselves, no cron job:
# by chance, one issue in PRUNE_EVERY (on average) deletes at most
# token_records.PRUNE_BATCH expired rows, after its own commit. A random draw,
# not the record's key: it is the same on every instance and every database
# setting (an id-based turn never came when MySQL's auto_increment_increment
# was even). Deleting up to PRUNE_BATCH rows per PRUNE_EVERY issues outruns
# the inserts, so a backlog drains, while no single request pays for more than one batch.
PRUNE_EVERY = 128
# A registration waits at most this long for the second after the userID's previous owner's last.
MAX_WAIT_FOR_NEXT_OWNER_SECONDS = 3.0


@dataclass(frozen=True)
class Claims:
    """A dialect's token: how it is minted and verified, and which claim names its user."""

    mint: Callable[..., IssuedToken]
    verify: Callable[[str, list[str], int], dict]
    user_claim: str


V2 = Claims(mint_token, verify_token, "UID")
V3 = Claims(mint_v3_token, verify_v3_token, "UserID")


class Holder(enum.Enum):
    """Who may hold the token being issued (token_records.record_token's `recorded_for`)."""

    REGISTERED = "registered"  # a registered user
    ORDINARY = "ordinary"  # a registered user, not a notification or bot account (OpenIM v3's user tokens)
    ADMIN = "anyone"  # a v3 admin, registered or not


@dataclass(frozen=True)
class TokenOwner:
    user_id: str
    platform: int
    expires_at: int


def mint(user_id: str, platform: int, claims: Claims = V2) -> IssuedToken:
    """A token of `claims`' dialect with the app's key, lifetime and clock; not recorded, so not yet valid."""
    config = current_app.config
    key, days = config["OPENIM_TOKEN_SECRET"], config["OPENIM_TOKEN_EXPIRE_DAYS"]
    return claims.mint(user_id, platform, key, days, clock.now())


def issue(
    user_id: str,
    platform: int,
    claims: Claims = V2,
    holder: Holder = Holder.REGISTERED,
    alongside: Callable[[Connection, IssuedToken], None] | None = None,
) -> IssuedToken:
    """Mint and record a token; `alongside` writes in the same transaction, before the record.

    Minted first, outside the transaction, so that write locks are held no
    longer than the statements take. UserNotFound when `holder` is not met.
    With OpenIM's Redis, the token is handed out only once its field is written.
    """
    issued = mint(user_id, platform, claims)
    token_hash = token_digest(issued.token)
    state = token_mirror.current()

    def record(connection: Connection) -> token_records.RecordedToken:
        if alongside is not None:
            alongside(connection, issued)
        try:
            return _record(connection, issued, token_hash, holder, state)
        except UserNotFound:
            if holder is Holder.ORDINARY and user_rows.exists(connection, user_id):
                raise InvalidInput(
                    "userID: a notification or bot account gets no user token",
                    fields={"userID": ["A notification or bot account (appMangerLevel 3 or 4)."]},
                ) from None
            raise

    recorded = run_in_transaction(record)
    if state is not None:
        token_mirror.publish(state, recorded, clock.now())
    _prune_if_due(recorded)
    metrics.count_token(platform)
    return issued


def _record(
    connection: Connection,
    issued: IssuedToken,
    token_hash: bytes,
    holder: Holder,
    state: token_mirror.TokenState | None = None,
) -> token_records.RecordedToken:
    config = current_app.config
    return token_records.record_token(
        connection,
        issued,
        token_hash,
        recorded_for=holder.value,
        multi_login=config["OPENIM_MULTI_LOGIN"],
        bound=config["OPENIM_MAX_TOKENS_PER_PLATFORM"],
        status=token_mirror.record_status(state),
        on_kicks=token_mirror.telling(state, issued.user_id),
    )


def record_minted(connection: Connection, issued: IssuedToken, holder: Holder = Holder.REGISTERED) -> None:
    """Record a token minted by mint() in the connection's transaction: for tests that race the steps."""
    _record(connection, issued, token_digest(issued.token), holder)


def prune_is_due() -> bool:
    """Whether this issue prunes: one in PRUNE_EVERY, by chance."""
    return random.randrange(PRUNE_EVERY) == 0


def _prune_if_due(recorded: token_records.RecordedToken) -> None:
    """Prune expired records when this issue draws the turn (see PRUNE_EVERY).

    Housekeeping never fails the request: the token is issued and recorded by
    now, and the next due prune takes up the work.
    """
    if not prune_is_due():
        return
    try:
        token_records.prune_expired_records(recorded.issued.issued_at)
    except DBAPIError as error:
        logger.warning("pruning expired token records failed: %s %s", type(error).__name__, mysql_error_code(error))


def kick(user_id: str, platform: int | None = None) -> int:
    """Kick the user's tokens issued so far, on `platform` or on all; how many records were kicked.

    Tokens issued afterwards are valid, even byte-identical ones (same second).
    """
    kicked = token_mirror.kick(token_mirror.current(), user_id, platform)
    metrics.count_kick(platform)
    return kicked


def revoke_all(user_id: str, alongside: Callable[[Connection], int]) -> int:
    """Delete every record of the user; `alongside` (which deletes the user) runs with the last ones.

    The records go in batches first, so that other writers never wait long;
    then one short transaction runs `alongside` and deletes the records issued
    meanwhile. `alongside` takes the user's row first, as the recording does:
    an issue racing it either commits before, and its record is deleted here,
    or finds no user. The userID's retirement second stays behind (see
    wait_past_previous_owners). OpenIM's Redis, when set, loses the user's
    hashes first, and again before each commit. Returns what `alongside` returned.
    """
    with db.engine.connect() as connection:
        latest_before = token_records.latest_issue(connection, user_id) or 0
    forget = token_mirror.forgetting(token_mirror.current(), user_id)
    if forget is not None:
        forget(None, {})
    record_writes.delete_records_in_batches(user_id, on_deletes=forget)

    def last_records(connection: Connection) -> int:
        result = alongside(connection)
        latest = max(clock.now(), latest_before, token_records.latest_issue(connection, user_id) or 0)
        deleted = record_writes.delete_records_of(connection, user_id)
        retired_user_ids.retire(connection, user_id, latest)
        if forget is not None:
            forget(connection, deleted)
        return result

    return run_in_transaction(last_records)


def wait_past_previous_owners(user_ids: list[str]) -> None:
    """Return once the app's clock is past the last second of any earlier owner of `user_ids`.

    A token carries whole seconds and no unique ID: minted in the second of
    the previous owner's last token, the next owner's would be the same bytes,
    and the old owner's copy would be the new owner's (docs/api-v2.md). So a
    registration right after a delete waits for the next second, and gives up
    (DatabaseUnavailable) when another instance's clock runs that far ahead.
    """
    # Freshly: no snapshot older than the delete, whatever this request read before.
    with fresh_read() as connection:
        # For many userIDs (an import's batch), one range read first: a delete this second is rare.
        if len(user_ids) > 1 and not retired_user_ids.any_retirement_from(connection, clock.now()):
            return
        retired = retired_user_ids.latest_retirement(connection, user_ids)
    if retired is None:
        return
    deadline = time.monotonic() + MAX_WAIT_FOR_NEXT_OWNER_SECONDS
    while clock.now() <= retired:
        if time.monotonic() >= deadline:
            raise DatabaseUnavailable("userID: its previous owner held tokens of a later second; try again")
        time.sleep(0.05)


def live_tokens(user_id: str) -> list[token_record_reads.LiveTokens]:
    return token_record_reads.live_tokens(user_id, clock.now())


def check(token: str | None, claims: Claims = V2) -> TokenOwner:
    """Whose a live token is: verified with the current or a previous key, recorded, not kicked.

    Raises in docs/api-v2.md's order: the errors of the dialect's verify, then the record's.
    """
    if not token:
        raise TokenMalformed()
    config = current_app.config
    keys = [config["OPENIM_TOKEN_SECRET"], *config["OPENIM_PREVIOUS_TOKEN_SECRETS"]]
    verified = claims.verify(token, keys, clock.now())
    return _recorded_owner(token, verified[claims.user_claim], verified["exp"])


def _recorded_owner(token: str, user_id: str, expires_at: int) -> TokenOwner:
    """The owner of a verified token, by its record; the same check for both dialects.

    TokenNotRecorded when it was never issued here, when its user is not
    registered, or when it was minted before its user registered (a reused
    userID inherits nothing); TokenKicked when its record is kicked. Only an
    OpenIM v3 admin token (platform 10) stands without a registered user: v3
    admins need not be registered. So a record that outlived its user's delete
    (issued through another Galera node in that very moment) is refused too.
    Read on the request's connection, freshly: no snapshot older than a kick,
    and no second connection for a token that the request then issues.
    """
    with fresh_read() as connection:
        record = token_record_reads.read_record(connection, token_digest(token))
    if record is None:
        raise TokenNotRecorded()
    recorded_user_id, platform, status, issued_at, registered_at = record
    if recorded_user_id != user_id:
        raise TokenNotRecorded()
    if registered_at is None:
        if platform != ADMIN_PLATFORM:
            raise TokenNotRecorded()
    elif issued_at < registered_at:
        raise TokenNotRecorded()
    if status == TokenStatus.kicked.name:
        raise TokenKicked()
    state = token_mirror.current()
    if state is not None:
        token_mirror.check(state, token, user_id, platform)
    return TokenOwner(user_id, platform, expires_at)
