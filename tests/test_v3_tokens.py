"""OpenIM v3 tokens (docs/api-v3.md), byte for byte, and each dialect refusing the other's.

The vectors were worked out by hand from OpenIM's Go source, not from this
service: openimsdk/tools tokenverify/jwt_token.go (BuildClaims: struct
{UserID string; PlatformID int; jwt.RegisteredClaims} with ExpiresAt = now +
ttl days and IssuedAt = now - secondBefore (5 s), NotBefore commented out)
and golang-jwt/jwt v4's RegisteredClaims (json tags exp, nbf, iat, all
omitempty; HS256 header {"alg":"HS256","typ":"JWT"}), encoded by Go's
encoding/json (embedded struct fields flattened after UserID and PlatformID,
`<` `>` escaped as \\u003c \\u003e, non-ASCII raw UTF-8).
"""

import base64
import hashlib
import hmac

import pytest

from app.errors import TokenExpired, TokenMalformed, TokenNotValidYet, TokenUnknown
from app.jwt_tokens import mint_token, mint_v3_token, verify_token, verify_v3_token
from tests.helpers import FIXED_NOW, SECRET
from tests.v3_calls import ADMIN, V3_CONFIG, call, parse, register_users, user_token

OPENIM_DEFAULT_KEY = "open_im_server"
# 2022-02-24T04:01:44Z, 7 days: exp = FIXED_NOW + 604800, iat = FIXED_NOW - 5.
VECTORS = [
    (
        ADMIN,
        10,
        b'{"UserID":"imAdmin","PlatformID":10,"exp":1646280104,"iat":1645675299}',
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJpbUFkbWluIiwiUGxhdGZvcm1JRCI6MTAsImV4cCI6MTY0NjI4MDEwNCwiaWF0"
        "IjoxNjQ1Njc1Mjk5fQ.WLs9IruA_rk2TKGBxZ258qYsSKPl4g8RkSFm_NQa_Wo",
    ),
    (
        "用户<1>",
        11,
        '{"UserID":"用户\\u003c1\\u003e","PlatformID":11,"exp":1646280104,"iat":1645675299}'.encode(),
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiLnlKjmiLdcdTAwM2MxXHUwMDNlIiwiUGxhdGZvcm1JRCI6MTEsImV4cCI6MTY0Nj"
        "I4MDEwNCwiaWF0IjoxNjQ1Njc1Mjk5fQ.GDnQfnZjCZ2DUCNDHtw7EyjJ7TsLadnVNxKgNP5MoKc",
    ),
]


def first_principles_token(payload: bytes, key: str) -> str:
    def segment(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = segment(b'{"alg":"HS256","typ":"JWT"}') + b"." + segment(payload)
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + segment(signature)).decode()


@pytest.mark.parametrize(("user_id", "platform", "payload", "expected"), VECTORS)
def test_the_vectors_are_what_the_go_payload_signs_to(user_id, platform, payload, expected):
    assert first_principles_token(payload, OPENIM_DEFAULT_KEY) == expected


@pytest.mark.parametrize(("user_id", "platform", "payload", "expected"), VECTORS)
def test_mint_v3_reproduces_the_vectors(user_id, platform, payload, expected):
    issued = mint_v3_token(user_id, platform, OPENIM_DEFAULT_KEY, 7, FIXED_NOW)
    assert issued.token == expected
    assert (issued.issued_at, issued.expires_at) == (FIXED_NOW, FIXED_NOW + 7 * 86400)


def test_routes_mint_the_vectors_with_an_injected_clock(make_app, clock):
    app = make_app(
        OPENIM_TOKEN_SECRET=OPENIM_DEFAULT_KEY, OPENIM_ALLOW_WEAK_SECRETS=True, OPENIM_CLOCK=clock, **V3_CONFIG
    )
    client = app.test_client()
    admin_answer = call(client, "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})
    assert admin_answer == {
        "errCode": 0,
        "errMsg": "",
        "errDlt": "",
        "data": {"token": VECTORS[0][3], "expireTimeSeconds": 604800},
    }
    assert register_users(client, VECTORS[0][3], "用户<1>")["errCode"] == 0
    assert user_token(client, VECTORS[0][3], "用户<1>", platform=11) == VECTORS[1][3]


def test_lifetime_follows_the_configured_days(make_app, clock):
    client = make_app(OPENIM_CLOCK=clock, OPENIM_TOKEN_EXPIRE_DAYS=2, **V3_CONFIG).test_client()
    answer = call(client, "/auth/get_admin_token", {"secret": SECRET, "userID": ADMIN})
    assert answer["data"]["expireTimeSeconds"] == 2 * 86400
    assert parse(client, answer["data"]["token"])["data"]["expireTimeSeconds"] == FIXED_NOW + 2 * 86400


KEY = "k" * 32


def test_verify_v3_checks_expiry_and_iat():
    issued = mint_v3_token("u", 1, KEY, 1, FIXED_NOW)
    assert verify_v3_token(issued.token, [KEY], FIXED_NOW)["UserID"] == "u"
    # iat is five seconds before the mint: valid from then on, as golang-jwt checks iat.
    assert verify_v3_token(issued.token, [KEY], FIXED_NOW - 5)["PlatformID"] == 1
    with pytest.raises(TokenNotValidYet):
        verify_v3_token(issued.token, [KEY], FIXED_NOW - 6)
    verify_v3_token(issued.token, [KEY], issued.expires_at - 1)
    with pytest.raises(TokenExpired):
        verify_v3_token(issued.token, [KEY], issued.expires_at)


def test_verify_v3_refuses_bad_signatures_and_malformed_tokens():
    issued = mint_v3_token("u", 1, KEY, 1, FIXED_NOW)
    with pytest.raises(TokenUnknown):
        verify_v3_token(issued.token, ["x" * 32], FIXED_NOW)
    with pytest.raises(TokenMalformed):
        verify_v3_token("not.a.token", [KEY], FIXED_NOW)
    wrong_types = first_principles_token(b'{"UserID":"u","PlatformID":"1","exp":9999999999,"iat":1}', KEY)
    with pytest.raises(TokenMalformed):
        verify_v3_token(wrong_types, [KEY], FIXED_NOW)


def test_each_dialect_refuses_the_others_token_as_unknown():
    v2 = mint_token("u", 1, KEY, 1, FIXED_NOW).token
    v3 = mint_v3_token("u", 1, KEY, 1, FIXED_NOW).token
    with pytest.raises(TokenUnknown):
        verify_v3_token(v2, [KEY], FIXED_NOW)
    with pytest.raises(TokenUnknown):
        verify_token(v3, [KEY], FIXED_NOW)
    # Signature first: the other dialect's token under a wrong key is unknown too, not malformed.
    with pytest.raises(TokenUnknown):
        verify_token(v3, ["y" * 32], FIXED_NOW)
