"""OpenIM's gateway, as far as a token goes: the JWT as golang-jwt v4 checks it, then Redis as OpenIM reads it.

v2.3 (pkg/common/token_verify ParseToken): claims UID and Platform (a name);
HGETALL UID_PID_TOKEN_STATUS:<UID>:<Platform>; the token's field 0 → in,
2 → kicked, anything else or no field → unknown. v3.8 (internal/rpc/auth
parseToken): claims UserID and PlatformID; an admin's userID needs no field;
an empty hash → not exist; then as v2, a missing field → not exist.
"""

import time

import jwt

from app.openim import V3_PLATFORM_NAMES
from tests.helpers import TOKEN_SECRET

ACCEPTED = "accepted"
KICKED = "kicked"
UNKNOWN = "unknown"
NOT_EXIST = "not exist"
EXPIRED = "expired"


def golang_jwt_claims(token: str, secret: str, now: float) -> dict | None:
    """The claims of an HS256 token that golang-jwt v4's RegisteredClaims.Valid lets through at `now`, else None."""
    options = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options=options)
    except jwt.PyJWTError:
        return None
    if not now < claims["exp"]:
        return None
    if now < claims.get("nbf", now) or now < claims.get("iat", now):
        return None
    return claims


class Gateway:
    """Reads the Redis that the service writes; `client` is a redis-py client of any mode."""

    def __init__(self, client, secret: str = TOKEN_SECRET, admins: tuple[str, ...] = (), now=time.time):
        self.client = client
        self.secret = secret
        self.admins = admins
        self.now = now

    def _fields(self, key: str) -> dict[str, int]:
        # Both versions turn the values into ints (v2 utils.StringToInt, v3 strconv.Atoi).
        return {field.decode(): int(value) for field, value in self.client.hgetall(key).items()}

    def v2(self, token: str) -> str:
        claims = golang_jwt_claims(token, self.secret, self.now())
        if claims is None or "UID" not in claims:
            return EXPIRED
        state = self._fields(f"UID_PID_TOKEN_STATUS:{claims['UID']}:{claims['Platform']}").get(token)
        return {0: ACCEPTED, 2: KICKED}.get(state, UNKNOWN)

    def v3(self, token: str) -> str:
        claims = golang_jwt_claims(token, self.secret, self.now())
        if claims is None or "UserID" not in claims:
            return EXPIRED
        if claims["UserID"] in self.admins:
            return ACCEPTED
        fields = self._fields(f"UID_PID_TOKEN_STATUS:{claims['UserID']}:{V3_PLATFORM_NAMES[claims['PlatformID']]}")
        if not fields or token not in fields:
            return NOT_EXIST
        return {0: ACCEPTED, 2: KICKED}.get(fields[token], UNKNOWN)

    def parse(self, token: str) -> str:
        """The token's dialect's gateway: v2 for a UID claim, v3 for a UserID claim."""
        claims = jwt.decode(token, options={"verify_signature": False})
        return self.v2(token) if "UID" in claims else self.v3(token)
