"""`gunicorn tests.http.redis_kill_app:app`: the service, whose worker SIGKILLs itself between two writes.

For tests/http/test_openim_redis_kill.py only. The userID picks the moment, so
that one server serves every case and every other userID is served as usual:

- `die-before-field-…`: an issue, after its record's commit, before Redis;
- `die-after-field-…`: an issue, after the field 0, before the answer;
- `die-before-kick-records-…`: a kick, after the fields 2, before the records;
- `die-before-delete-records-…`: a delete, after the hashes went, before the records.
"""

import os
import signal

import wsgi
from app.storage.openim_redis import TokenState

app = wsgi.app


def die_if(user_id: str, prefix: str) -> None:
    if user_id.startswith(prefix):
        os.kill(os.getpid(), signal.SIGKILL)


_publish_token, _kick, _forget_user = TokenState.publish_token, TokenState.kick, TokenState.forget_user


def publish_token(state, user_id, platform, *token_and_times):
    die_if(user_id, "die-before-field-")
    written_and_before = _publish_token(state, user_id, platform, *token_and_times)
    die_if(user_id, "die-after-field-")
    return written_and_before


def kick(state, user_id, platforms, digests=None, reached=None):
    _kick(state, user_id, platforms, digests, reached)
    if digests is None:  # the first step: every field of the hashes
        die_if(user_id, "die-before-kick-records-")


def forget_user(state, user_id, reached=None):
    _forget_user(state, user_id, reached)
    die_if(user_id, "die-before-delete-records-")


TokenState.publish_token, TokenState.kick, TokenState.forget_user = publish_token, kick, forget_user
