"""OpenIM v2 login tokens (SPEC §4).

A token is an HS256 JWT whose payload is exactly what OpenIM's Go server
writes: `{"UID":…,"Platform":…,"exp":…,"nbf":…,"iat":…}`, compact, in that
order, encoded as Go's encoding/json encodes it. PyJWT's encoder cannot produce
those bytes (it escapes non-ASCII), so minting is done here with hmac;
verifying uses PyJWT, always naming `algorithms=["HS256"]`.
"""
import base64
import hashlib
import hmac
from dataclasses import dataclass

import jwt
from flask import current_app
from jwt.algorithms import HMACAlgorithm

from app import gojson
from app.errors import TokenExpired, TokenMalformed, TokenNotValidYet, TokenUnknown

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


def issue_token(user_id: str, platform: int) -> IssuedToken:
    """Mint a token for a registered user with the app's key, lifetime and clock."""
    config = current_app.config
    return mint_token(
        user_id,
        platform,
        config["OPENIM_TOKEN_SECRET"],
        config["OPENIM_TOKEN_EXPIRE_DAYS"],
        int(config["OPENIM_CLOCK"]()),
    )


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
