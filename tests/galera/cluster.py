"""What the Galera tests share: the nodes, how to reach and query each, and the run's report.

The fixtures that bring the cluster and the gunicorn instances up are in this
folder's conftest.py; the tests import these helpers from here.
"""

import pymysql

from tests.http.server import Server

NODES = (1, 2, 3)
DATABASE = "openim_galera"
# The v3 admin of the cluster's instances (OPENIM_MANAGER_UIDS).
ADMIN = "galeraAdmin"

# Filled by the tests, printed at the end of the run (retry counts, stall times).
REPORT: list[str] = []


def node_port(node: int) -> int:
    return 3310 + node


def node_url(node: int, database: str = DATABASE) -> str:
    return f"mysql+pymysql://root@127.0.0.1:{node_port(node)}/{database}?charset=utf8mb4"


def connect(node: int, database: str | None = DATABASE, **kwargs) -> pymysql.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=node_port(node),
        user="root",
        database=database,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=5,
        read_timeout=30,
        **kwargs,
    )


def query(node: int, sql: str, args=None, sync_wait: int = 1) -> list[tuple]:
    """Rows of `sql` on one node, by default as a causal read."""
    connection = connect(node)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET SESSION wsrep_sync_wait = {sync_wait}")
            cursor.execute(sql, args)
            return list(cursor.fetchall())
    finally:
        connection.close()


def log_count(server: Server, needle: str) -> int:
    return server.log_path.read_text(errors="replace").count(needle)
