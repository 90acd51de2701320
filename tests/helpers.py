"""What the tests share: the test configuration, request bodies, and `Api`.

`Api` wraps a Flask test client the way flaskr's `AuthActions` does, so a test
reads as the calls it makes: `token = api.register("alice")`, then
`api.parse_code(token) == 0`. The `try_` methods answer the response itself
(status code and envelope) for the tests about failures. The gunicorn-side
counterpart for real round trips is `tests.http.server.Server`.
"""
import os

from werkzeug.test import TestResponse

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SECRET = "test-api-secret-0123456789abcdef"
TOKEN_SECRET = "test-token-secret-0123456789abcdef"
# 2022-02-24T04:01:44Z, the iat of the seed's first example token.
FIXED_NOW = 1645675304


def base_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "OPENIM_SECRET": SECRET,
        "OPENIM_TOKEN_SECRET": TOKEN_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
    }


def is_mysql(url: str | None) -> bool:
    return bool(url) and url.startswith(("mysql", "mariadb"))


def register_body(
    user_id: str, platform: int = 1, operation_id: str = "op-register", secret: str = SECRET, **profile
) -> dict:
    """A user_register body: the required fields, then any profile fields (faceURL=…, ex=…)."""
    return {
        "secret": secret,
        "platform": platform,
        "userID": user_id,
        "nickname": "n",
        "operationID": operation_id,
        **profile,
    }


def token_body(user_id: str, platform: int = 1, operation_id: str = "op-token", secret: str = SECRET) -> dict:
    return {"secret": secret, "platform": platform, "userID": user_id, "operationID": operation_id}


# The smallest valid user_register body.
MINIMAL_BODY = register_body("u1", operation_id="op1")


class Api:
    """The service's routes called through a Flask test client (`api` fixture, or `Api(app.test_client())`)."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, body: dict | str | bytes | None, headers: dict | None = None) -> TestResponse:
        """Any route with any body: a dict goes as JSON, str or bytes as they are."""
        if isinstance(body, (str, bytes)):
            return self.client.post(path, data=body, headers=headers)
        return self.client.post(path, json=body, headers=headers)

    def try_register(self, user_id: str, platform: int = 1, **fields) -> TestResponse:
        """user_register with `register_body`'s fields (operation_id=, secret=, profile…); the response."""
        return self.post("/auth/user_register", register_body(user_id, platform, **fields))

    def register(self, user_id: str, platform: int = 1, **fields) -> str:
        """Register a user, which must succeed; the token the answer carries."""
        return token_of(self.try_register(user_id, platform, **fields))

    def try_user_token(self, user_id: str, platform: int = 1, **fields) -> TestResponse:
        return self.post("/auth/user_token", token_body(user_id, platform, **fields))

    def user_token(self, user_id: str, platform: int = 1, **fields) -> str:
        """A token of a registered user, which must be issued."""
        return token_of(self.try_user_token(user_id, platform, **fields))

    def parse(self, token: str | None) -> TestResponse:
        """parse_token with `token` in its header (none when None)."""
        headers = {} if token is None else {"token": token}
        return self.post("/auth/parse_token", {"operationID": "parse"}, headers)

    def parse_code(self, token: str | None) -> int:
        """parse_token's errCode; any refusal must come as HTTP 401."""
        response = self.parse(token)
        if response.json["errCode"] != 0:
            assert response.status_code == 401
        return response.json["errCode"]

    def force_logout(
        self, user_id: str, platform: int = 1, token: str | None = None, secret: str | None = None
    ) -> TestResponse:
        """force_logout by a manager's token, the API secret, both or neither."""
        body = {"platform": platform, "fromUserID": user_id, "operationID": "logout"}
        if secret is not None:
            body["secret"] = secret
        return self.post("/auth/force_logout", body, {} if token is None else {"token": token})


def token_of(response: TestResponse) -> str:
    answer = response.json
    assert answer["errCode"] == 0, answer
    return answer["data"]["token"]
