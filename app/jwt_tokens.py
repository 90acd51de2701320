"""Login tokens as pure JWT: mint and verify, byte for byte as OpenIM's Go server.

No database, no Flask: a key, a clock reading and claims in, bytes out. Token
records (who was issued what, kicks) are app/storage/token_records.py's.

OpenIM v2 (docs/api-v2.md): an HS256 JWT whose payload is exactly
`{"UID":…,"Platform":…,"exp":…,"nbf":…,"iat":…}`, compact, in that order,
encoded as Go's encoding/json encodes it. PyJWT's encoder cannot produce those
bytes (it escapes non-ASCII), so minting is done here with hmac; verifying
uses PyJWT, always naming `algorithms=["HS256"]`.

OpenIM v3 (docs/api-v3.md): the payload openimsdk/tools tokenverify.BuildClaims
writes, `{"UserID":…,"PlatformID":…,"exp":…,"iat":…}`, iat five seconds
before now and no nbf. A token of one dialect is not the other's: each
verify refuses the other's claim shape as unknown.
"""

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import jwt
from jwt.algorithms import HMACAlgorithm

from app.errors import TokenExpired, TokenMalformed, TokenNotValidYet, TokenUnknown
from app.openim import PLATFORM_NAMES, SECONDS_PER_DAY
from app.wire_format import go_json

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


def sign(claims: dict, key: str) -> str:
    """An HS256 JWT of `claims`, serialized as Go's encoding/json would, in the dict's order."""
    signing_input = _HEADER + b"." + _b64url(go_json.dumps(claims).encode("utf-8"))
    signature = hmac.new(key.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def mint_token(user_id: str, platform: int, key: str, expire_days: int, now: int) -> IssuedToken:
    """The token OpenIM v2 would mint for this user, platform, key and second."""
    expires_at = now + expire_days * SECONDS_PER_DAY
    claims = {"UID": user_id, "Platform": PLATFORM_NAMES[platform], "exp": expires_at, "nbf": now, "iat": now}
    return IssuedToken(user_id, platform, sign(claims, key), now, expires_at)


# tokenverify.secondBefore: v3's iat is this long before the mint.
V3_ISSUED_BEFORE_SECONDS = 5


def mint_v3_token(user_id: str, platform: int, key: str, expire_days: int, now: int) -> IssuedToken:
    """The token OpenIM v3 would mint for this user, platform, key and second.

    issued_at is the mint time `now`, what the token record keeps; the iat claim is earlier.
    """
    expires_at = now + expire_days * SECONDS_PER_DAY
    claims = {"UserID": user_id, "PlatformID": platform, "exp": expires_at, "iat": now - V3_ISSUED_BEFORE_SECONDS}
    return IssuedToken(user_id, platform, sign(claims, key), now, expires_at)


def unverified_expiry(token: bytes) -> int | None:
    """A token's exp claim, its signature unchecked: for housekeeping, never to let a token in; None if it has none."""
    try:
        payload = token.split(b".")[1]
        claims = go_json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    return expiry if type(expiry) is int else None


def token_digest(token: str) -> bytes:
    """What a token record holds instead of the token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class _ConfiguredKeyHS256(HMACAlgorithm):
    """HS256 without PyJWT's per-call warning about keys under 32 bytes.

    Weak keys are refused, or allowed and warned about once, at start-up.
    """

    def check_key_length(self, key) -> None:
        return None


_jws = jwt.PyJWS(algorithms=["HS256"])
_jws.unregister_algorithm("HS256")
_jws.register_algorithm("HS256", _ConfiguredKeyHS256(HMACAlgorithm.SHA256))
V2_CLAIM_TYPES = {"UID": str, "Platform": str, "exp": int, "nbf": int, "iat": int}
V3_CLAIM_TYPES = {"UserID": str, "PlatformID": int, "exp": int, "iat": int}


def verified_payload(token: str, keys: Iterable[str]) -> bytes:
    """The payload of a token signed with one of `keys`.

    Raises TokenMalformed, or TokenUnknown for a bad signature or any algorithm but HS256.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenMalformed() from None
    if header.get("alg") != "HS256":
        raise TokenUnknown()
    for key in keys:
        try:
            return _jws.decode(token, key, algorithms=["HS256"])
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise TokenMalformed() from None
    raise TokenUnknown()


def has_claims(claims: dict, claim_types: dict[str, type]) -> bool:
    return all(type(claims.get(name)) is kind for name, kind in claim_types.items())


def typed_claims(payload: bytes, claim_types: dict[str, type], foreign_types: dict[str, type] | None = None) -> dict:
    """The payload as a JSON object holding every claim of `claim_types` with its type.

    TokenUnknown when it has instead the claims of the other dialect
    (`foreign_types`): a well-formed token, but not one this dialect issues.
    Else TokenMalformed.
    """
    try:
        claims = go_json.loads(payload)
    except ValueError:
        raise TokenMalformed() from None
    if not isinstance(claims, dict):
        raise TokenMalformed()
    if has_claims(claims, claim_types):
        return claims
    if foreign_types is not None and has_claims(claims, foreign_types):
        raise TokenUnknown()
    raise TokenMalformed()


def check_lifetime(claims: dict, now: int, not_before: int) -> None:
    """TokenExpired at and after `exp`, TokenNotValidYet before `not_before`."""
    if now >= claims["exp"]:
        raise TokenExpired()
    if now < not_before:
        raise TokenNotValidYet()


# Per dialect: the claims of its tokens, and those of the other dialect's.
_CLAIM_SHAPES = {"v2": (V2_CLAIM_TYPES, V3_CLAIM_TYPES), "v3": (V3_CLAIM_TYPES, V2_CLAIM_TYPES)}


# An AppServer sends the same admin token with every v3 call, and a client its
# token with every request: each is checked once per process, not per request.
# Only verified claims are kept (lru_cache keeps no exception), keyed by the
# keys too, so a key taken out of rotation verifies nothing from the cache.
# The lifetime is checked at every call, against that call's clock.
@functools.lru_cache(maxsize=1024)
def _verified_claims(token: str, keys: tuple[str, ...], dialect: str) -> dict:
    own, foreign = _CLAIM_SHAPES[dialect]
    return typed_claims(verified_payload(token, keys), own, foreign)


def verify_token(token: str, keys: list[str], now: int) -> dict:
    """The claims of an OpenIM v2 token signed with one of `keys`, checked at `now`.

    Raises in docs/api-v2.md's order: TokenMalformed, TokenUnknown (bad signature or
    any algorithm but HS256), TokenExpired, TokenNotValidYet.
    """
    claims = dict(_verified_claims(token, tuple(keys), "v2"))  # a copy: the cached one stays as verified
    check_lifetime(claims, now, claims["nbf"])
    return claims


def verify_v3_token(token: str, keys: list[str], now: int) -> dict:
    """The claims of an OpenIM v3 token signed with one of `keys`, checked at `now`.

    The same order as verify_token. With no nbf, a token is not valid yet
    before its iat, as golang-jwt's RegisteredClaims.Valid refuses a token
    "used before issued".
    """
    claims = dict(_verified_claims(token, tuple(keys), "v3"))
    check_lifetime(claims, now, claims["iat"])
    return claims
