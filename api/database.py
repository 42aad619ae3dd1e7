"""Database engine tuning: SQLite durability and one writer at a time."""
import threading

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from models import db

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# SQLite takes one writer at a time. Threads that queue on its file lock
# spin in busy-wait and blow up the tail latency; queueing them on a
# process lock instead is fair and cheap.
_sqlite_write_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL with synchronous=FULL: an acknowledged check-in survives a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def configure_database(app: Flask) -> None:
    """Tune the engine for its backend; serialise SQLite writes, across processes too."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name != "sqlite":
            return
        if not event.contains(engine, "connect", _sqlite_pragmas):
            event.listen(engine, "connect", _sqlite_pragmas)
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
    another process waits for the commit (busy_timeout), never reads
    between. This is SQLAlchemy's pysqlite recipe of emitting BEGIN
    ourselves, kept to write requests: anything else (reads, the audit
    insert of a GET, the scheduler, the CLI, the mail sender) keeps
    pysqlite's deferred BEGIN at its first write, because a read-only
    BEGIN would pin a snapshot that a later write (the caseload view
    keeping its figures) could not upgrade once another process
    committed. SAVEPOINTs then sit inside this BEGIN as they should.
    """
    if not has_request_context() or request.method in _SAFE_METHODS:
        return
    if not connection.connection.dbapi_connection.in_transaction:
        # Through SQLAlchemy, so that a lock still held by another process
        # after busy_timeout is an OperationalError like any other (a 503).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
