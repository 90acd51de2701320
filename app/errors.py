"""The ways a rule can refuse: plain exceptions, with no errCode, no HTTP and no Flask.

The rules (users, tokens, import, CLI) raise these; each wire dialect under
app/web/ maps them to its own error codes and statuses, and the CLI prints
their message.
"""


class ServiceError(Exception):
    """A request the rules refuse; the message is fit for the caller."""

    message = "the request failed"

    def __init__(self, message: str | None = None):
        self.message = message or self.message
        super().__init__(self.message)


class InvalidInput(ServiceError):
    """A body or field that breaks the wire rules; `fields` maps each bad field to its problems."""

    message = "invalid arguments"

    def __init__(self, message: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields


class SecretMismatch(ServiceError):
    message = "secret mismatch"


class InvalidToken(ServiceError):
    """A login token that does not let its bearer in, for one of the reasons below."""


class TokenMalformed(InvalidToken):
    message = "that's not even a token"


class TokenUnknown(InvalidToken):
    """A bad signature, an algorithm other than HS256, or a token never issued here."""

    message = "couldn't handle this token"


class TokenNotRecorded(TokenUnknown):
    """Well signed and in date, but never issued here (or its record is gone)."""


class TokenExpired(InvalidToken):
    message = "token is timed out, please log in again"


class TokenNotValidYet(InvalidToken):
    message = "token not active yet"


class TokenKicked(InvalidToken):
    message = "user has been kicked"


class NoPermission(ServiceError):
    message = "no permission"


class UserNotFound(ServiceError):
    message = "user not registered"


class AlreadyRegistered(ServiceError):
    message = "userID already registered"


class ReservedForAdmin(AlreadyRegistered):
    """An admin's userID (OPENIM_MANAGER_UIDS): only an operator registers it, as OpenIM's exist from start-up."""

    message = "userID is reserved for an admin"


class DatabaseUnavailable(ServiceError):
    message = "db failed"


class DatabaseNotSetUp(DatabaseUnavailable):
    """The database answers but has no schema: `db upgrade` was never run on it.

    app/web/handlers.py adds the command that runs it, which depends on where the code runs from.
    """

    message = "db failed: the database has no schema"


class TokenStateUnavailable(DatabaseUnavailable):
    """OpenIM's Redis (OPENIM_REDIS_URL) did not answer: no token is handed out that its gateway cannot know."""

    message = "redis failed"
