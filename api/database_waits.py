"""Bounds on every wait for PostgreSQL: a silent database costs a request seconds, not the outage.

A database host that stops answering (a link that drops packets, a hung
server, a pooler with no server behind it) refuses nothing and closes
nothing, so an unbounded wait on it lasts as long as the outage. Each wait
here has its own bound:

* connecting: libpq's connect_timeout;
* checking a pooled connection before use (SQLAlchemy's pre-ping): a short
  deadline of its own, so a dead connection is replaced after seconds;
* each answer a request waits for: the server's statement_timeout, and a
  client-side deadline a second longer, which holds even when the server's
  cancel cannot reach us;
* a link that dies under a connection: TCP keepalives and tcp_user_timeout,
  so the kernel notices a dead peer even between requests.

A request whose wait runs out answers 503 (api/errors.py), and the pool
replaces the connection, so the app recovers without a restart. Once a
request has waited out a connect or an answer, it does not wait again (its
audit event would try): the 503 comes after one wait, not two. The
scheduler, the CLI and migrations keep every bound but the statement one: a
weekly pass or a migration may rightly run one long statement.
"""
from functools import partial

import psycopg
from flask import Flask, has_request_context, request
from psycopg import errors as pg_errors
from sqlalchemy import event

from models import db

from .psycopg_cursor import DescribedOnDemandCursor

# A second past statement_timeout: the server's own cancel (which leaves the
# connection usable) comes first whenever the server can still answer.
ANSWER_GRACE_SECONDS = 1.0
# Set on a request that has waited out the database once.
_GAVE_UP = "waypoint.database_gave_up"


class NoAnswer(psycopg.OperationalError):
    """The database did not answer within the deadline."""


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server ends by a deadline."""

    # None: wait as long as it takes (psycopg's own behaviour).
    answer_timeout: float | None = None
    # The statement_timeout this session runs with, once a request set it.
    statement_timeout_ms: int | None = None

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is not None or self.answer_timeout is None:
            return super().wait(gen, interval=interval, timeout=timeout)  # psycopg's own timed waits
        try:
            return super().wait(gen, interval=interval, timeout=self.answer_timeout)
        except pg_errors._WaitTimeout:
            # Half a message may be on the wire: this connection is done for.
            # Closed, it reads as a disconnect to SQLAlchemy, which drops it.
            self.pgconn.finish()
            raise NoAnswer(f"the database did not answer within {self.answer_timeout:g} s") from None


def bound_database_waits(app: Flask) -> None:
    """Bound every wait of app's engine on PostgreSQL through psycopg (other backends: nothing to do)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return
    config = app.config
    event.listen(engine, "do_connect", partial(_connect, dict(config["DATABASE_LIBPQ_DEFAULTS"])))
    event.listen(engine, "connect", partial(_between_checkouts, config["DATABASE_PING_TIMEOUT"]))
    event.listen(engine, "checkin", partial(_between_checkouts, config["DATABASE_PING_TIMEOUT"]))
    event.listen(engine, "checkout", partial(_bound_for_request, config["DATABASE_STATEMENT_TIMEOUT"]))
    event.listen(engine, "handle_error", _note_no_answer)


def _connect(defaults: dict, _dialect, _record, cargs, cparams):
    in_request = has_request_context()
    if in_request and request.environ.get(_GAVE_UP):
        raise psycopg.OperationalError("the database did not answer earlier in this request")
    try:
        # A parameter in DATABASE_URL's query string wins over the default.
        return BoundedConnection.connect(*cargs, **{**defaults, **cparams}, cursor_factory=DescribedOnDemandCursor)
    except psycopg.OperationalError:
        if in_request:
            request.environ[_GAVE_UP] = True
        raise


def _note_no_answer(context) -> None:
    # Not a pre-ping's: a pooled connection found dead is replaced at once,
    # and that is how the app recovers from a restarted database.
    if isinstance(context.original_exception, NoAnswer) and not context.is_pre_ping and has_request_context():
        request.environ[_GAVE_UP] = True


def _between_checkouts(ping_timeout: float, dbapi_connection, _record) -> None:
    # The next wait on a connection in the pool is the pre-ping of its next
    # checkout, which SQLAlchemy runs before the "checkout" event: a trivial
    # round trip, so a short deadline tells a dead link from a slow one.
    if dbapi_connection is not None:  # None: the connection failed to open
        dbapi_connection.answer_timeout = ping_timeout


def _bound_for_request(statement_timeout: float, dbapi_connection, _record, _proxy) -> None:
    if not has_request_context():
        dbapi_connection.answer_timeout = None
        return
    if not statement_timeout:
        dbapi_connection.answer_timeout = None  # turned off by configuration
        return
    dbapi_connection.answer_timeout = statement_timeout + ANSWER_GRACE_SECONDS
    milliseconds = int(statement_timeout * 1000)
    if dbapi_connection.statement_timeout_ms != milliseconds:
        # Once per connection: the session keeps it for every later request
        # (the scheduler and the CLI never get here; their connections run without).
        dbapi_connection.execute(f"SET statement_timeout = {milliseconds}")
        dbapi_connection.commit()
        dbapi_connection.statement_timeout_ms = milliseconds
