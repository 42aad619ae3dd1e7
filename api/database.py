"""Database engine tuning: SQLite durability and one writer at a time."""
import threading

from flask import Flask, request
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
    """Tune the engine for its backend; serialise SQLite writes per process."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine: Engine = db.engine
        if not event.contains(engine, "connect", _sqlite_pragmas):
            event.listen(engine, "connect", _sqlite_pragmas)

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
