"""Database engine tuning: SQLite durability and one writer at a time; a lost lock race is run again."""
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models import db

from .security import limiter

log = logging.getLogger("waypoint.database")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# SQLite takes one writer at a time. Threads that queue on its file lock
# spin in busy-wait and blow up the tail latency; queueing them on a
# process lock instead is fair and cheap.
_sqlite_write_lock = threading.Lock()
# How long a write request waits for another process's writer (as busy_timeout), and how often it looks.
SQLITE_WRITE_WAIT_SECONDS = 10.0
_SQLITE_WRITE_POLL_SECONDS = 0.001

# PostgreSQL aborts one transaction of a deadlock (40P01), and a
# serializable one that lost a race (40001), so that the others can finish:
# run again, the request meets the winner's work and usually goes through.
LOST_RACE_SQLSTATES = frozenset({"40P01", "40001"})
RACE_ATTEMPTS = 4
_COMMITTED = "waypoint.committed"


def sqlite_pragmas(dbapi_connection, _record) -> None:
    """Set what every SQLite connection of the app runs with (an engine's "connect" listener)."""
    cursor = dbapi_connection.cursor()
    # WAL with synchronous=FULL: an acknowledged check-in survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def configure_database(app: Flask) -> None:
    """Tune the engine for its backend; serialise SQLite writes; run a view again when it lost a deadlock."""
    _run_lost_races_again(app)
    with app.app_context():
        engine: Engine = db.engine
        if not event.contains(engine, "commit", _note_commit):
            event.listen(engine, "commit", _note_commit)
        for name, listener in (("begin", _forget_writes), ("before_cursor_execute", _note_write),
                               ("handle_error", _note_failure)):
            if not event.contains(engine, name, listener):
                event.listen(engine, name, listener)
        if engine.dialect.name != "sqlite":
            return
        # A file cannot drop a connection as a server can: the pre-ping the
        # config asks for (PostgreSQL's restarts) would only add a SELECT 1 to
        # every checkout, two a request. SQLAlchemy reads the flag on each
        # checkout and offers no public setter once the engine exists.
        engine.pool._pre_ping = False
        if not event.contains(engine, "connect", sqlite_pragmas):
            event.listen(engine, "connect", sqlite_pragmas)
        if not event.contains(engine, "begin", _begin_write_request):
            event.listen(engine, "begin", _begin_write_request)

    @app.before_request
    def _take_write_lock():
        if request.method not in _SAFE_METHODS:
            _sqlite_write_lock.acquire()
            request.environ["waypoint.write_lock"] = True

    @app.teardown_request
    def _release_write_lock(_exc):
        if request.environ.pop("waypoint.write_lock", False):
            # End any transaction (a refused request's) before the next writer starts.
            db.session.rollback()
            _sqlite_write_lock.release()


def _begin_write_request(connection) -> None:
    """Begin every transaction of a write request with SQLite's write lock: BEGIN IMMEDIATE.

    pysqlite begins a transaction only before the first INSERT, UPDATE or
    DELETE, so a request's reads ran outside any transaction: two processes
    (gunicorn's workers) could both read "invite unused", "refresh token
    current" or "four goals this week" and both write. The process lock
    above covers only its own threads. Taking the database's write lock
    when the transaction begins, before the first read, makes every
    read-then-write of a write request hold across processes; a writer of
    another process waits for the commit, never reads in between. This is
    SQLAlchemy's pysqlite recipe of emitting BEGIN ourselves, kept to write
    requests: anything else (reads, the audit insert of a GET, the
    scheduler, the CLI, the mail sender) keeps pysqlite's deferred BEGIN at
    its first write, because a read-only BEGIN would pin a snapshot that a
    later write (the caseload view keeping its figures) could not upgrade
    once another process committed. SAVEPOINTs then sit inside this BEGIN.

    The wait is ours, a look every millisecond, not SQLite's busy handler:
    that one sleeps longer after each miss (up to 100 ms), and a process
    whose own threads hand the lock on at once starved the other process's
    writers (bench P5, two workers: check-in p99 281 ms with SQLite's
    handler, 98 ms with this loop). Sent on the driver's connection, like
    the driver's own BEGIN (and PostgreSQL's): not a statement of the request.
    """
    if not has_request_context() or request.method in _SAFE_METHODS:
        return
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection.in_transaction:
        return
    deadline = time.monotonic() + SQLITE_WRITE_WAIT_SECONDS
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if error.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() >= deadline:
                    # As any other database error: a lock held past the wait is a 503.
                    raise OperationalError("BEGIN IMMEDIATE", None, error) from error
            time.sleep(_SQLITE_WRITE_POLL_SECONDS)
    finally:
        dbapi_connection.execute("PRAGMA busy_timeout=10000")


@contextmanager
def committed_statement_by_statement(connection: Connection) -> Iterator[None]:
    """On SQLite outside a transaction, run each statement inside as a transaction of its own, committed as it returns.

    For a request that only read and now writes its audit row: the driver
    would send BEGIN, the INSERT and COMMIT as three calls, and between the
    INSERT, which takes SQLite's one write lock, and the COMMIT, which
    releases it after the fsync, the thread must win the GIL back from the
    process's other threads while every writer of every process waits on
    the lock. In autocommit the INSERT takes the lock, writes, commits with
    the same fsync (synchronous=FULL) and releases it inside one call of
    the driver's, which runs without the GIL. The row is just as durable
    when the call returns; the caller's COMMIT then finds nothing to do.
    Measured under gunicorn (2 workers, 8 connections, paired): the floor
    993-1,005 requests a second against 849-895, 1.54 ms of CPU a request
    against 1.64.
    Anywhere else (PostgreSQL, or a transaction already open, as every
    write request's is) this changes nothing.
    """
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name != "sqlite" or dbapi_connection is None or dbapi_connection.in_transaction:
        yield
        return
    legacy = dbapi_connection.isolation_level
    dbapi_connection.isolation_level = None  # the driver's autocommit: no BEGIN of its own
    try:
        yield
    finally:
        dbapi_connection.isolation_level = legacy


_WROTE = "waypoint.transaction_wrote"


def transaction_wrote(session: Session) -> bool:
    """Tell whether session's transaction may have changed anything: rolling it back would undo something.

    Conservative: pending ORM changes, a failed flush or statement, or any
    statement but a SELECT (an INSERT, an UPDATE, a SAVEPOINT, a lowercase
    text()) counts as a write. A transaction that only read can then carry
    one more write of its own and commit instead of being rolled back.
    """
    if session.new or session.dirty or session.deleted or not session.is_active:
        return True
    if not session.in_transaction():
        return False
    return bool(session.connection().info.get(_WROTE))


def _forget_writes(connection) -> None:
    connection.info.pop(_WROTE, None)  # the info outlives the transaction (it is the pooled connection's)


def _note_write(connection, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    if not statement.startswith("SELECT"):
        connection.info[_WROTE] = True


def _note_failure(context) -> None:
    # A failed statement may have aborted the transaction (PostgreSQL): it can carry nothing more.
    if context.connection is not None:
        context.connection.info[_WROTE] = True


def _note_commit(_connection) -> None:
    # A request that committed something must not run again: that part would happen twice.
    if has_request_context():
        request.environ[_COMMITTED] = True


def _run_lost_races_again(app: Flask) -> None:
    """Run a request's view again, a few times, when the database aborted its transaction to break a deadlock.

    Every statement of the view is rolled back with it, and what it owed
    outside the database went into that transaction too (the audit event
    of commit_with_audit, mail owed through the outbox), so a second run
    starts clean. Not run again: a request that has already committed
    something (a login's failure count) or counted against a rate limit
    (login, password change), since that would happen twice; it answers
    503 like any other database failure, as does the last attempt.
    """
    dispatch = app.dispatch_request

    def dispatch_request():
        for attempt in range(1, RACE_ATTEMPTS):
            try:
                return dispatch()
            except DBAPIError as error:
                if not _may_run_again(error):
                    raise
                db.session.rollback()
                log.warning("%s lost a lock race (%s); running it again (attempt %d of %d)",
                            request.endpoint, getattr(error.orig, "sqlstate", None), attempt + 1, RACE_ATTEMPTS)
                # Let the winner commit first; jitter, so that two losers do not meet again.
                time.sleep(random.uniform(0.005, 0.025) * attempt)
        return dispatch()  # the last attempt: a failure is answered as any other

    # Wrapped on the instance (Flask calls self.dispatch_request once per
    # request, inside its error handling), so create_app keeps building a plain Flask.
    app.dispatch_request = dispatch_request  # type: ignore[method-assign]


def _may_run_again(error: DBAPIError) -> bool:
    return (getattr(error.orig, "sqlstate", None) in LOST_RACE_SQLSTATES
            and not request.environ.get(_COMMITTED)
            and not limiter.current_limits)
