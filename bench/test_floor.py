"""The floor mints the very bytes of the service's tokens (`pytest bench`; run.py checks it first)."""

from app.jwt_tokens import mint_token
from bench.floor import mint

USER_IDS = ["u0000001", "用户<1>", "a&b>c", "line\u2028sep\u2029", "emoji 😀", 'quote"back\\slash', "x" * 64]


def test_floor_mints_the_service_tokens():
    for platform in range(1, 10):
        for user_id in USER_IDS:
            for key, days, now in (("k" * 32, 7, 1_700_000_000), ("another-key-of-some-length", 30, 0)):
                expected = mint_token(user_id, platform, key, days, now)
                assert mint(user_id, platform, key.encode(), days, now) == (expected.token, expected.expires_at)
