import base64
import json

import jwt
import pytest

from app.errors import TokenExpired, TokenMalformed, TokenNotValidYet, TokenUnknown
from app.jwt_tokens import mint_token, verify_token
from app.openim import PLATFORM_NAMES
from tests.helpers import SECRET
from tests.openim_api_page import REGISTER_ANSWER, USER_TOKEN_ANSWER

# The tokens of the two example answers of OpenIM's API page (tests/openim_api_page.py),
# minted by OpenIM v2 with its default key, 7 days; the middle value is the second each was
# minted at (its `iat` claim), to mint it again.
SEED_TOKENS = [
    (REGISTER_ANSWER["data"]["token"], 1645675304, REGISTER_ANSWER["data"]["expiredTime"]),
    (USER_TOKEN_ANSWER["data"]["token"], 1645688859, USER_TOKEN_ANSWER["data"]["expiredTime"]),
]
OPENIM_DEFAULT_KEY = "open_im_server"


def payload_bytes(token: str) -> bytes:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@pytest.mark.parametrize(("expected", "iat", "exp"), SEED_TOKENS)
def test_mint_reproduces_seed_tokens_byte_for_byte(expected, iat, exp):
    issued = mint_token("openIM1111", 1, OPENIM_DEFAULT_KEY, 7, iat)
    assert issued.token == expected
    assert issued.expires_at == exp


@pytest.mark.parametrize(("expected", "iat", "exp"), SEED_TOKENS)
def test_endpoint_reproduces_seed_tokens_with_an_injected_clock(make_app, expected, iat, exp):
    app = make_app(
        OPENIM_TOKEN_SECRET=OPENIM_DEFAULT_KEY,
        OPENIM_ALLOW_WEAK_SECRETS=True,
        OPENIM_CLOCK=lambda: iat,
    )
    client = app.test_client()
    body = {"secret": SECRET, "platform": 1, "userID": "openIM1111", "nickname": "2222", "operationID": "1"}
    assert client.post("/auth/user_register", json=body).json["errCode"] == 0
    answer = client.post(
        "/auth/user_token",
        json={"secret": SECRET, "platform": 1, "userID": "openIM1111", "operationID": "asdfasdfsadf"},
    ).json
    assert answer == {
        "errCode": 0,
        "errMsg": "",
        "data": {"userID": "openIM1111", "token": expected, "expiredTime": exp},
    }


def test_payload_is_encoded_as_go_encodes_it():
    issued = mint_token("用户<1>&\u2028", 5, "k" * 32, 7, 1000)
    assert (
        payload_bytes(issued.token)
        == ('{"UID":"用户\\u003c1\\u003e\\u0026\\u2028","Platform":"Web","exp":605800,"nbf":1000,"iat":1000}').encode()
    )


def test_header_is_openims():
    header = mint_token("a", 1, "k" * 32, 7, 1000).token.split(".")[0]
    assert base64.urlsafe_b64decode(header + "==") == b'{"alg":"HS256","typ":"JWT"}'


@pytest.mark.parametrize("platform", sorted(PLATFORM_NAMES))
def test_every_platform_has_openims_name(platform):
    claims = json.loads(payload_bytes(mint_token("u", platform, "k" * 32, 7, 0).token))
    assert claims["Platform"] == PLATFORM_NAMES[platform]
    assert PLATFORM_NAMES == {
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


def test_expiry_is_whole_days():
    issued = mint_token("u", 1, "k" * 32, 30, 1000)
    assert issued.expires_at == 1000 + 30 * 86400
    assert json.loads(payload_bytes(issued.token))["exp"] == issued.expires_at


def test_tokens_are_deterministic_per_second():
    assert mint_token("u", 1, "k" * 32, 7, 5).token == mint_token("u", 1, "k" * 32, 7, 5).token
    assert mint_token("u", 1, "k" * 32, 7, 5).token != mint_token("u", 1, "k" * 32, 7, 6).token


def test_pyjwt_accepts_minted_tokens():
    token = mint_token("用户", 2, "k" * 32, 7, 1000).token
    claims = jwt.decode(token, "k" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"UID": "用户", "Platform": "Android", "exp": 605800, "nbf": 1000, "iat": 1000}


class TestVerify:
    key = "k" * 32

    def test_valid_until_exp(self):
        token = mint_token("u", 1, self.key, 7, 1000).token
        assert verify_token(token, [self.key], 1000 + 7 * 86400 - 1)["UID"] == "u"
        with pytest.raises(TokenExpired):
            verify_token(token, [self.key], 1000 + 7 * 86400)

    def test_not_yet_valid(self):
        token = mint_token("u", 1, self.key, 7, 1000).token
        with pytest.raises(TokenNotValidYet):
            verify_token(token, [self.key], 999)

    def test_wrong_key_is_unknown_but_previous_key_verifies(self):
        token = mint_token("u", 1, "old" * 11, 7, 1000).token
        with pytest.raises(TokenUnknown):
            verify_token(token, [self.key], 1000)
        assert verify_token(token, [self.key, "old" * 11], 1000)["UID"] == "u"

    @pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.!!!.x"])
    def test_malformed(self, garbage):
        with pytest.raises(TokenMalformed):
            verify_token(garbage, [self.key], 1000)

    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    def test_other_algorithms_are_refused(self, algorithm):
        token = jwt.encode(
            {"UID": "u", "Platform": "IOS", "exp": 2000, "nbf": 1000, "iat": 1000}, self.key * 2, algorithm=algorithm
        )
        with pytest.raises(TokenUnknown):
            verify_token(token, [self.key * 2], 1000)

    def test_alg_none_is_refused(self):
        token = jwt.encode(
            {"UID": "u", "Platform": "IOS", "exp": 2000, "nbf": 1000, "iat": 1000}, None, algorithm="none"
        )
        with pytest.raises(TokenUnknown):
            verify_token(token, [self.key], 1000)

    def test_changed_payload_fails_signature(self):
        header, _, signature = mint_token("u", 1, self.key, 7, 1000).token.split(".")
        forged = base64.urlsafe_b64encode(b'{"UID":"admin","Platform":"IOS","exp":9999999999,"nbf":0,"iat":0}')
        with pytest.raises(TokenUnknown):
            verify_token(f"{header}.{forged.decode().rstrip('=')}.{signature}", [self.key], 1000)

    def test_missing_claim_is_malformed(self):
        token = jwt.encode({"UID": "u", "exp": 2000, "nbf": 1000, "iat": 1000}, self.key, algorithm="HS256")
        with pytest.raises(TokenMalformed):
            verify_token(token, [self.key], 1000)


def test_a_token_verified_before_is_refused_once_its_key_is_gone():
    """Verified signatures are kept per process (a cache); the keys are part of what is kept."""
    token = mint_token("alice", 1, "old-key", 7, 1_700_000_000).token
    assert verify_token(token, ["new-key", "old-key"], 1_700_000_001)["UID"] == "alice"
    with pytest.raises(TokenUnknown):
        verify_token(token, ["new-key"], 1_700_000_001)


def test_a_token_verified_before_still_expires():
    """The cache keeps what the signature proved, never the lifetime's verdict."""
    issued = mint_token("alice", 1, "key", 7, 1_700_000_000)
    assert verify_token(issued.token, ["key"], issued.expires_at - 1)["exp"] == issued.expires_at
    with pytest.raises(TokenExpired):
        verify_token(issued.token, ["key"], issued.expires_at)
