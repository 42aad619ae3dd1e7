"""One error shape for every source: RFC 9457 problem details as JSON."""
import logging

from flask import Flask, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from services import errors as domain

log = logging.getLogger("waypoint.errors")
# Where an answer that means "come back later" keeps its Retry-After, so the
# security headers can restore it after Flask-Limiter writes its own.
RETRY_AFTER = "waypoint.retry_after"
DATABASE_RETRY_SECONDS = "5"
PROBLEM_TYPE_BASE = "https://waypoint.example/problems/"

# Domain refusal -> (status, problem type, title).
_DOMAIN_ANSWERS = {
    domain.NotFound: (404, "not-found", "Not found"),
    domain.NotAllowed: (403, "forbidden", "Forbidden"),
    domain.InvalidInput: (422, "validation-error", "Invalid input"),
    domain.CheckinLocked: (409, "checkin-locked", "Check-in locked"),
    domain.Conflict: (409, "conflict", "Conflict"),
    domain.VersionRequired: (428, "version-required", "Precondition required"),
    domain.StaleVersion: (412, "stale-version", "Precondition failed"),
    domain.SessionExpired: (401, "session-expired", "Unauthorized"),
    domain.LoginPaused: (429, "login-paused", "Too Many Requests"),
    domain.AuthenticationFailed: (401, "unauthorized", "Unauthorized"),
}


def problem_body(status: int, type_: str, title: str, detail: str | None = None,
                 errors: dict | None = None) -> dict:
    """Return a problem-details dict."""
    body = {"type": PROBLEM_TYPE_BASE + type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return body


def problem_response(status, type_, title, detail=None, errors=None, headers=None):
    """Return a Flask response carrying problem details."""
    body = problem_body(status, type_, title, detail, errors)
    response = Flask.response_class(
        json.dumps(body), status=status, mimetype="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def domain_problem(error: domain.DomainError) -> dict:
    """Return the problem body for a domain refusal (also used per sync entry)."""
    for kind in type(error).__mro__:
        if kind in _DOMAIN_ANSWERS:
            status, type_, title = _DOMAIN_ANSWERS[kind]
            return problem_body(status, type_, title, error.detail, error.errors)
    return problem_body(400, "bad-request", "Bad request", error.detail, error.errors)


def flatten_validation(messages: dict) -> dict:
    """Merge webargs' per-location messages ({"json": {...}}) into one field map."""
    flat = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def handle_http_exception(error: HTTPException):
    """Answer any HTTP error (404, 405, 413, webargs' 422, ...) as problem details."""
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if errors and error.code == 422:
        errors = flatten_validation(errors)
    headers = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    detail = data.get("message") or error.description
    if error.code == 422 and not data.get("message"):
        detail = "The request has invalid fields; see errors."
    type_ = "validation-error" if error.code == 422 else (error.name or "error").lower().replace(" ", "-")
    return problem_response(error.code, type_, error.name, detail, errors, headers)


def handle_domain_error(error: domain.DomainError):
    body = domain_problem(error)
    return problem_response(body["status"], body["type"].rsplit("/", 1)[1], body["title"],
                            body.get("detail"), body.get("errors"))


def handle_database_unavailable(error: DBAPIError):
    """Answer 503 when the database cannot be reached; any other database error is a 500.

    The pool pre-pings connections, so once the database is back the next
    request gets a fresh connection: no restart needed.
    """
    if not _database_unreachable(error):
        return handle_unexpected(error)
    return _database_unavailable(type(error.orig).__name__ if error.orig else type(error).__name__)


def handle_pool_exhausted(_error: PoolTimeout):
    """Answer 503 when no pooled connection came free within pool_timeout (all taken or stuck)."""
    return _database_unavailable("no pooled connection came free")


def _database_unavailable(reason: str):
    log.error("database unavailable: %s", reason)
    request.environ[RETRY_AFTER] = DATABASE_RETRY_SECONDS
    return problem_response(503, "database-unavailable", "Service Unavailable",
                            "The database is not reachable just now; nothing was saved. Try again shortly.",
                            headers={"Retry-After": DATABASE_RETRY_SECONDS})


# SQLite reports a missing table and a busy file alike as OperationalError;
# only these result codes mean "try again", the rest are bugs (a 500).
_SQLITE_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN",
                       "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_READONLY"}


def _database_unreachable(error: DBAPIError) -> bool:
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code is not None:
        primary = "_".join(sqlite_code.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        return primary in _SQLITE_UNAVAILABLE
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is None:
        # The driver's own: refused, lost, or no answer within the deadline
        # (api/database_waits.py); the server said nothing.
        return True
    return sqlstate[:2] in _POSTGRESQL_UNAVAILABLE_CLASSES


# The SQLSTATE classes of a PostgreSQL that cannot serve just now: 08 the
# connection failed, 53 out of resources (too many connections, disk full),
# 57 operator intervention (shutting down, starting up, or a statement
# cancelled by statement_timeout: no answer in the time a request may wait),
# 58 a system (I/O) error, and 40 a deadlock or serialization failure that
# outlived its retries. Any other error comes from a server that is up and
# refused this statement: a lock_timeout (55P03) is contention on a healthy
# database and a missing table is a bug; both are 500s, never "come back later".
_POSTGRESQL_UNAVAILABLE_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def handle_unexpected(error: Exception):
    """Log the failure (type and trace, never request data) and answer a bare 500."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled %s", type(error).__name__)
    return problem_response(500, "internal-error", InternalServerError().name,
                            "Something went wrong on our side; nothing was saved.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(domain.DomainError, handle_domain_error)
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    app.register_error_handler(PoolTimeout, handle_pool_exhausted)
    app.register_error_handler(Exception, handle_unexpected)
