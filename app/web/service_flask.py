"""The service's Flask class: Flask, less two things it does on every request that a JSON API never needs.

- No cookie session. Flask opens a session for every request and, with no
  SECRET_KEY, builds a fresh NullSession each time. This service sets no
  cookie and reads none, so every request shares one NullSession, which
  refuses every write just as a fresh one would.
- `ensure_sync` answers once per function. Flask asks it, for every hook,
  error handler and view on every request, whether the function is a
  coroutine function (inspect's checks through partials and methods). The
  answer for a function never changes, so it is kept.
"""

from collections.abc import Callable

from flask import Flask
from flask.sessions import NullSession, SessionInterface

# Hooks, handlers and views: a few dozen. Past this, nothing more is kept.
MAX_KEPT_FUNCTIONS = 1024


class NoCookieSessions(SessionInterface):
    def __init__(self):
        self._empty = NullSession()

    def open_session(self, app: Flask, request) -> NullSession:
        return self._empty

    def save_session(self, app: Flask, session, response) -> None:
        return None


class ServiceFlask(Flask):
    session_interface = NoCookieSessions()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        try:
            return self._sync_functions[func]
        except KeyError:
            synchronous = super().ensure_sync(func)
            if len(self._sync_functions) < MAX_KEPT_FUNCTIONS:
                self._sync_functions[func] = synchronous
            return synchronous
        except TypeError:  # not hashable
            return super().ensure_sync(func)
