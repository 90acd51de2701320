"""bare Flask answers an unknown route byte for byte as the service does (`pytest bench`; run.py checks it first)."""

from app import create_app
from bench.bare_flask import app as bare_flask

# A test config: create_app writes nothing to the instance folder.
SETTINGS = {
    "SQLALCHEMY_DATABASE_URI": "sqlite://",
    "OPENIM_SECRET": "bench-api-secret-0123456789abcdef",
    "OPENIM_TOKEN_SECRET": "bench-token-key-0123456789abcd",
}
PATH = "/bench/no-such-route"  # bench/trivial.lua's


def answer(app) -> tuple:
    response = app.test_client().get(PATH)
    headers = sorted((name, value) for name, value in response.headers if name.lower() != "content-length")
    return response.status, headers, response.get_data()


def test_bare_flask_answers_the_service_404():
    assert answer(bare_flask) == answer(create_app(SETTINGS))
