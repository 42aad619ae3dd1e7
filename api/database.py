"""Database engine tuning: SQLite durability and one writer at a time; a lost lock race is run again."""
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models import db

from .postgres_reads import reading_without_transaction, run_alone
from .security import limiter
from .writer_turn import WriterTurn, writer_turn

View = TypeVar("View", bound=Callable[..., Any])

log = logging.getLogger("waypoint.database")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a write request waits for a writer without the turn (api.writer_turn), as
# busy_timeout does, and how often it looks.
SQLITE_WRITE_WAIT_SECONDS = 10.0
_SQLITE_WRITE_POLL_SECONDS = 0.001

# PostgreSQL aborts one transaction of a deadlock (40P01), and a
# serializable one that lost a race (40001), so that the others can finish:
# run again, the request meets the winner's work and usually goes through.
LOST_RACE_SQLSTATES = frozenset({"40P01", "40001"})
RACE_ATTEMPTS = 4
_COMMITTED = "waypoint.committed"
# A write request holds the turn to write (api.writer_turn); its view takes it (writes_after_checks).
_HOLDS_TURN = "waypoint.holds_turn"
_TURN_IN_VIEW = "waypoint.turn_in_view"
_TURN_TO_COMMIT = "waypoint.turn_to_commit"
# Set on a request that waited out the turn: its audit row does not wait for it a second time.
_TURN_WAITED_OUT = "waypoint.turn_waited_out"


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
        if not event.contains(Session, "after_commit", _give_the_turn_at_commit):
            event.listen(Session, "after_commit", _give_the_turn_at_commit)
        turn = writer_turn(engine)

    @app.before_request
    def _take_the_turn():
        if request.method in _SAFE_METHODS:
            return
        if _view_writes_after_checks():
            request.environ[_TURN_IN_VIEW] = turn
            return
        _take_for_request(turn)

    @app.teardown_request
    def _give_the_turn(_exc):
        holder = request.environ.pop(_HOLDS_TURN, None)
        if holder is not None:
            # End any transaction (a refused request's) before the next writer starts.
            db.session.rollback()
            holder.give()


def writes_after_checks(view: View) -> View:
    """Take the turn to write when the view starts: after the token's check and the reading of its arguments.

    Every other write request takes it before anything else, because its
    token's check may decide its write (a refresh token rotated once, a
    password checked before it changes). A view marked so reads everything
    that decides its writes again once it holds the turn (the check-in
    PUT and the sync take the patient's lock first), so a PUT's token,
    JSON and marshmallow, a third of its time, no longer queue on SQLite's
    one writer. Its token is read just before the turn, as on PostgreSQL,
    where no write request waits for another before its token's check. The
    turn is given back at the commit (the answer is built without it) or,
    failing that, when the request ends. Only SQLite has a turn.
    """
    @wraps(view)
    def takes_the_turn(*args: Any, **kwargs: Any) -> Any:
        turn = request.environ.pop(_TURN_IN_VIEW, None)
        if turn is not None:
            _take_for_request(turn)
            request.environ[_TURN_TO_COMMIT] = True
            # The token's check read outside a transaction (pysqlite begins one
            # only before a write): begin the view's with the write lock.
            _begin_immediately(cast(sqlite3.Connection, db.session.connection().connection.dbapi_connection))
        return view(*args, **kwargs)

    takes_the_turn.writes_after_checks = True  # type: ignore[attr-defined]
    return cast(View, takes_the_turn)


def _take_for_request(turn: WriterTurn) -> None:
    try:
        turn.take()
    except OperationalError:
        request.environ[_TURN_WAITED_OUT] = True  # the answer is a 503, after one wait
        raise
    request.environ[_HOLDS_TURN] = turn


def _view_writes_after_checks() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, request.method.lower(), None)
    return getattr(view, "writes_after_checks", False)


def _give_the_turn_at_commit(_session: Session) -> None:
    if has_request_context() and request.environ.pop(_TURN_TO_COMMIT, False):
        request.environ.pop(_HOLDS_TURN).give()


def _begin_write_request(connection) -> None:
    """Begin every transaction of a write request that holds the turn with SQLite's write lock: BEGIN IMMEDIATE.

    pysqlite begins a transaction only before the first INSERT, UPDATE or
    DELETE, so a request's reads ran outside any transaction: two processes
    (gunicorn's workers) could both read "invite unused", "refresh token
    current" or "four goals this week" and both write. The turn
    (api.writer_turn) only orders writers. Taking the database's write lock
    when the transaction begins, before the first read, makes every
    read-then-write of a write request hold across processes; a writer of
    another process waits for the commit, never reads in between. This is
    SQLAlchemy's pysqlite recipe of emitting BEGIN ourselves, kept to write
    requests while they hold the turn: anything else (reads, the audit
    insert of a GET, a write view before it takes its turn, the scheduler,
    the CLI, the mail sender) keeps pysqlite's deferred BEGIN at its first
    write, because a read-only BEGIN would pin a snapshot that a later
    write (the caseload view keeping its figures) could not upgrade once
    another process committed. SAVEPOINTs then sit inside this BEGIN.

    With the turn, the lock is usually free. When a writer without one
    holds it, the wait is ours, a look every millisecond, not SQLite's busy
    handler: that one sleeps longer after each miss (up to 100 ms), and a
    process whose own threads hand the lock on at once starved the other
    process's writers (bench P5, two workers: check-in p99 281 ms with
    SQLite's handler, 98 ms with this loop). Sent on the driver's
    connection, like the driver's own BEGIN (and PostgreSQL's): not a
    statement of the request.
    """
    if has_request_context() and _HOLDS_TURN in request.environ:
        _begin_immediately(connection.connection.dbapi_connection)


def _begin_immediately(dbapi_connection: sqlite3.Connection) -> None:
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
    against 1.64. The INSERT waits for the turn to write first
    (api.writer_turn), not in SQLite's busy handler, whose sleeps of 1 to
    100 ms made the floor's p99 135-410 ms (with the turn, 15-24 ms).
    On PostgreSQL, a request that has only read runs without a transaction
    already (api.postgres_reads); the statements inside commit as they
    return there too, writes included. Anywhere else (a transaction already
    open, as every write request's is) this changes nothing.
    """
    if connection.dialect.name == "postgresql" and reading_without_transaction(connection):
        with run_alone(connection):
            yield
        return
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name != "sqlite" or dbapi_connection is None or dbapi_connection.in_transaction:
        yield
        return
    legacy = dbapi_connection.isolation_level
    dbapi_connection.isolation_level = None  # the driver's autocommit: no BEGIN of its own
    try:
        if has_request_context() and request.environ.get(_TURN_WAITED_OUT):
            yield  # SQLite's own lock still orders it; a second wait would only delay the 503
        else:
            with writer_turn(connection.engine).holding():
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
