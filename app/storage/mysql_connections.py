"""MySQL/MariaDB connections: which are, and the pool's ROLLBACK of one only when it may hold a transaction.

SQLAlchemy's pool resets each connection it takes back with a ROLLBACK: on
MySQL/MariaDB a round trip on every request, after the request's COMMIT has
already ended its transaction. A Connection (Core's, or a Session's) that is
closed rolls back a transaction it still has, one whose commit failed
included, and the pool then skips its own reset; one closed with no
transaction has ended every transaction it began. So the engines of
MySQL/MariaDB URLs take no reset of the pool's (mysql_waits.mysql_engine_options)
and this one sends the ROLLBACK unless the checkout was used through a
Connection: for a driver connection taken raw (engine.raw_connection()), whose
transactions SQLAlchemy does not see. No connection goes back to the pool
holding a transaction, its locks or its REPEATABLE READ snapshot.

Code that runs statements on a Connection's driver connection begins the
Connection's transaction first (app/storage/driver_statements.py does).

The mark that a checkout was used through a Connection is set by a listener
of the service's MySQL engine only (database.init_app calls
mark_connections_of): a Connection event on every engine would have every
SQLite statement dispatch events too. An engine without it, such as the OpenIM
import's source, gets the ROLLBACK every time, as the pool's own reset did.
"""

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

MYSQL_DRIVER_MODULES = ("pymysql", "MySQLdb")
_THROUGH_A_CONNECTION = "openim_through_a_connection"


def is_mysql_driver_connection(dbapi_connection) -> bool:
    """A connection of a MySQL driver, or of a subclass of one (app/storage/mysql_waits.py's)."""
    return any(cls.__module__.partition(".")[0] in MYSQL_DRIVER_MODULES for cls in type(dbapi_connection).__mro__)


@event.listens_for(Pool, "checkout")
def _taken_raw_until_a_connection_wraps_it(dbapi_connection, connection_record, connection_proxy) -> None:
    connection_record.info[_THROUGH_A_CONNECTION] = False


def mark_used_through_a_connection(connection: Connection) -> None:
    connection.connection.info[_THROUGH_A_CONNECTION] = True


def mark_connections_of(engine: Engine) -> None:
    """Let `engine`'s checkouts used through a Connection go back without the ROLLBACK."""
    event.listen(engine, "engine_connect", mark_used_through_a_connection)


@event.listens_for(Pool, "reset")
def _roll_back_unless_ended(dbapi_connection, connection_record, reset_state) -> None:
    if not is_mysql_driver_connection(dbapi_connection):
        return  # the pool's own reset (SQLite's engines keep it)
    if reset_state.transaction_was_reset or not reset_state.asyncio_safe:
        return
    if connection_record is None or not connection_record.info.get(_THROUGH_A_CONNECTION):
        dbapi_connection.rollback()
