"""PostgreSQL: a request that only reads sends no BEGIN and no COMMIT.

At READ COMMITTED, PostgreSQL's default and Waypoint's, each statement sees
the database as it was when that statement began, in a transaction or not.
A GET's reads see exactly what they would see inside one, and the driver's
BEGIN and COMMIT were two round trips of the floor's six (the pool's check,
BEGIN, the token's session, the page, the audit row, COMMIT) that changed
nothing. So a connection handed out to a safe method's request runs in
autocommit: each statement is its own transaction, committed as it returns.
A read's audit row is one INSERT, as durable when it returns as after a
COMMIT.

The first statement that is not a plain SELECT (an INSERT, an UPDATE, a
SELECT ... FOR UPDATE, a WITH, SQL written by hand in lower case) turns
autocommit off before it is sent: the driver begins a transaction with it,
and the rest of the request runs as it always did (a caseload view keeping
its figures, a lock and the writes it guards). The reads before it ran
each on its own snapshot, as they would have at READ COMMITTED. The one
exception is a statement run alone (api.database's
committed_statement_by_statement: the audit row of a request that only
read), which commits by itself. Write requests, the scheduler and the CLI
are untouched; SQLite has nothing to gain (pysqlite begins only before a
write already).
"""
import re
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection

from models import db

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Kept in the pooled connection's info while its statements run in autocommit for a read.
_READING = "waypoint.reads_without_transaction"
_ALONE = "waypoint.statement_alone"
# A row lock taken by a SELECT must last until the writes it guards: only a transaction keeps it.
_ROW_LOCK = re.compile(r"\bfor\s+(?:update|no\s+key\s+update|share|key\s+share)\b")


def read_without_transactions(app: Flask) -> None:
    """Hand a safe method's request its PostgreSQL connection in autocommit, until it first writes."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    for name, listener in (("checkout", _reading_request), ("checkin", _transactions_again),
                           ("before_cursor_execute", _begin_before_writing)):
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def reading_without_transaction(connection: Connection) -> bool:
    """Tell whether connection's statements are each committed as they return (a read request's, so far)."""
    return bool(connection.info.get(_READING))


@contextmanager
def run_alone(connection: Connection) -> Iterator[None]:
    """Let the statements inside commit as they return, writes included, on a reading connection."""
    connection.info[_ALONE] = True
    try:
        yield
    finally:
        connection.info.pop(_ALONE, None)


def plain_read(statement: str) -> bool:
    """Tell whether statement only reads and locks nothing (what it does not know counts as a write)."""
    if not statement.startswith("SELECT"):
        return False
    # In any case. The look for "for" first: searching every statement with
    # the expression cost 0.2 M instructions a request (callgrind).
    lowered = statement.lower()
    return "for" not in lowered or _ROW_LOCK.search(lowered) is None


def _reading_request(dbapi_connection, record, _proxy) -> None:
    # After the pool's pre-ping, which runs in autocommit of its own and then restores it.
    if has_request_context() and request.method in _SAFE_METHODS:
        dbapi_connection.autocommit = True
        record.info[_READING] = True


def _transactions_again(dbapi_connection, record) -> None:
    # Whatever the request did, the next one gets the connection as the pool made it.
    if record.info.pop(_READING, None) and dbapi_connection is not None and not dbapi_connection.closed:
        dbapi_connection.autocommit = False
    record.info.pop(_ALONE, None)


def _begin_before_writing(connection, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    info = connection.info
    if info.get(_READING) and not info.get(_ALONE) and not plain_read(statement):
        # Before the statement is sent: the driver begins the transaction with it.
        connection.connection.dbapi_connection.autocommit = False
        del info[_READING]
