"""A statement run straight on the driver's cursor, for the statements of the hottest paths.

The read that every authenticated request makes (token_record_reads), the two
statements of every token issue (token_records: the bound's count and the
recording INSERT … SELECT), the registration's user INSERT and its look for a
retired userID (user_rows, retired_user_ids), and the batches of a user's
kick or delete (record_writes), the same SQL a thousand times over.

SQLAlchemy's execution of one statement (its execution context, result
object and type processing) costs about 65 µs of CPU here, five times what
SQLite itself spends on a primary-key read; on the token check of every
OpenIM v3 call that was a tenth of the request. A DriverStatement is the same Core
statement, compiled once per dialect, run on the request connection's DBAPI
cursor. What SQLAlchemy's execution would do around it stays:

- the read is in the connection's transaction, begun as `execute` begins it,
  so the commit or rollback that ends it (run_in_transaction,
  fresh_read, the pool's reset) is SQLAlchemy's;
- `before_cursor_execute` listeners of the engine are told of the statement;
- a driver error is raised as SQLAlchemy raises it: the DBAPIError subclass
  (IntegrityError for a duplicate key), parameters hidden as the engine hides
  them, and a lost connection invalidated, so that the app's error handlers
  answer it alike;
- a parameter whose column type converts it for the driver (a datetime on
  SQLite, bytes as the driver's Binary) is converted by that type's own
  bind processor, as SQLAlchemy would.

Rows come back as the driver gives them, with no type processing: select
plain strings and integers (see token_records' record read). Every bound
parameter is the caller's: write constants as literal_column.
"""

import contextlib
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Delete, Insert, Select, Update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


class DriverStatement:
    def __init__(self, statement: Select | Update | Insert | Delete):
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}
        self._converters: dict[str, dict[str, Callable]] = {}

    def _compiled_for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
        """The SQL text, and the order of its parameters when the driver's style is positional."""
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self._statement.compile(dialect=dialect)
            order = tuple(statement.positiontup) if statement.positional else None
            self._converters[dialect.name] = {
                name: convert
                for name, bind in statement.binds.items()
                if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
            }
            compiled = self._compiled[dialect.name] = (statement.string, order)
        return compiled

    def first(self, connection: Connection, parameters: dict) -> tuple | None:
        """The first row, or None; `parameters` by the statement's bindparam names, values as the driver takes them."""
        return self._run(connection, parameters, lambda cursor: cursor.fetchone())

    def rows(self, connection: Connection, parameters: dict) -> list[tuple]:
        """Every row, as the driver gives them."""
        return self._run(connection, parameters, lambda cursor: cursor.fetchall())

    def rowcount(self, connection: Connection, parameters: dict) -> int:
        """For an INSERT, UPDATE or DELETE: how many rows it wrote (for an UPDATE, matched)."""
        return self._run(connection, parameters, lambda cursor: cursor.rowcount)

    def _run(self, connection: Connection, parameters: dict, outcome: Callable[[object], T]) -> T:
        sql, order = self._compiled_for(connection.dialect)
        converters = self._converters[connection.dialect.name]
        if converters:
            parameters = {**parameters, **{name: convert(parameters[name]) for name, convert in converters.items()}}
        driver_parameters = parameters if order is None else tuple(parameters[name] for name in order)
        if not connection.in_transaction():
            connection.begin()
        dbapi = connection.dialect.loaded_dbapi
        cursor = None
        try:
            cursor = connection.connection.cursor()
            announce = connection.dispatch.before_cursor_execute
            if announce:  # listeners of the engine's events (tracing, tests) see these statements too
                announce(connection, cursor, sql, driver_parameters, None, False)
            cursor.execute(sql, driver_parameters)
            result = outcome(cursor)
        except dbapi.Error as error:
            raise _as_sqlalchemy_error(connection, error, sql, driver_parameters, cursor) from error
        cursor.close()
        return result


def _as_sqlalchemy_error(connection: Connection, error: Exception, sql: str, parameters, cursor) -> DBAPIError:
    """What SQLAlchemy's execute would raise, once it has closed the cursor and invalidated a lost connection."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if cursor is not None:
        with contextlib.suppress(dialect.loaded_dbapi.Error, OSError):  # the cursor of a broken connection
            cursor.close()
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(
        sql,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.engine.hide_parameters,
        connection_invalidated=lost,
        dialect=dialect,
    )
