"""Log lines without patient data: one JSON object a line in production, text on a laptop.

Every line names when, how bad, which logger and what happened; a line written
while a request is handled also names the request: its id, its method and the
route's rule (`/api/v1/patients/<int:patient_id>`), never the concrete path or
the query string, which name patients and can carry anything. The app writes
one line per request (logger `waypoint.requests`) with the status and the
time taken. No line carries an exception's message: it may quote patient data
(a database error quotes the statement's values), so the type and the trace
stand in for it. Nor do the app's lines name the caller's address: it
identifies a patient, and the audit trail is the one place that records it.
(werkzeug's development server quotes address and path in text mode; in JSON
mode its lines about requests are left out.)

gunicorn.conf.py loads this file by its path in gunicorn's master, so that the
master's lines share the format. The master must not import the app package
(or Flask): the workers fork from it, and after a reload (HUP) they would go on
running the code the master imported. So this module imports the standard
library only, and the request hooks import Flask when the app calls them.
"""
import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone

FORMATS = ("json", "text")
REQUEST_LOGGER = "waypoint.requests"
# Health probes come every few seconds from every load balancer: a line each
# only when they fail.
PROBE_ENDPOINTS = frozenset({"health.Health", "health.Ready"})

# LogRecord attributes this module sets; prefixed, so that no `extra=` clashes.
_REQUEST_FIELDS = "waypoint_request"
_RESPONSE_FIELDS = "waypoint_response"
_REQUEST_ID = "waypoint.request_id"
_STARTED = "waypoint.request_started"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A proxy's request id is taken only in this shape: a header that could carry
# words (a name) must not reach the logs.
_FORWARDED_REQUEST_ID = re.compile(r"[0-9A-Fa-f-]{16,64}", re.ASCII)
_TEXT_LAYOUT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def log_format(environ=os.environ) -> str:
    """Return the format the environment asks for: LOG_FORMAT, else json in production, else text."""
    chosen = (environ.get("LOG_FORMAT") or "").strip().lower()
    if not chosen:
        return "json" if environ.get("WAYPOINT_ENV") == "production" else "text"
    return _checked(chosen)


def _checked(format_name: str) -> str:
    if format_name not in FORMATS:
        raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {format_name!r}.")
    return format_name


# --- formats -----------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
                            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update(getattr(record, _REQUEST_FIELDS, None) or {})
        line.update(getattr(record, _RESPONSE_FIELDS, None) or {})
        # A record that passed api.audit's WithholdExceptionMessages carries
        # its withheld trace in exc_text; any other is rendered here, never
        # from a text another formatter may have cached.
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = trace_without_messages(record.exc_info[1])
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Format a record as a line of text for people; exceptions without their messages."""

    def __init__(self):
        super().__init__(_TEXT_LAYOUT)

    def formatException(self, exc_info) -> str:
        return trace_without_messages(exc_info[1]) if exc_info[1] is not None else ""


def trace_without_messages(error: BaseException) -> str:
    """Return a traceback (with its causes) naming each exception's type but not its message.

    Here, not in api.audit, because gunicorn's master loads this module alone.
    """
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kind = type(error)
        parts.append("Traceback (most recent call last):\n"
                     + "".join(traceback.format_tb(error.__traceback__))
                     + f"{kind.__module__}.{kind.__qualname__} (message withheld)")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\n\nwhile handling the exception above, the one below was raised:\n\n".join(reversed(parts))


# --- what servers say about requests -----------------------------------------------

class WithholdRequestDetails(logging.Filter):
    """Withhold what libraries quote about a request: gunicorn its line and the caller's address,
    Flask-Limiter the address a limit counts by."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            return True
        if record.name.startswith("gunicorn"):
            if record.msg.startswith("Error handling request %s"):
                record.args = ("[withheld]",)
            elif record.msg.startswith("Invalid request from ip="):
                record.msg, record.args = "Invalid request (address and request line withheld)", ()
        elif record.name == "flask-limiter" and record.msg.startswith("ratelimit %s (%s) exceeded"):
            # An account's key is a keyed hash (api/security.py) and may stay; an address may not.
            if isinstance(record.args, tuple) and len(record.args) > 1 and str(record.args[1]).startswith("address:"):
                record.args = (record.args[0], "address:[withheld]", *record.args[2:])
        return True


class DropWerkzeugRequestLines(logging.Filter):
    """Leave out the development server's lines about a request: they quote its address and path.

    The app's own line (waypoint.requests) says the same without them.
    """

    _ABOUT_A_REQUEST = re.compile(r"\S+ - - \[")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "werkzeug" and isinstance(record.msg, str)
                    and self._ABOUT_A_REQUEST.match(record.msg))


def make_handler(format_name: str, stream=None) -> logging.Handler:
    """Return the handler every line goes through: stderr (or stream) in format_name."""
    _checked(format_name)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format_name == "json" else TextFormatter())
    handler.addFilter(WithholdRequestDetails())
    if format_name == "json":
        handler.addFilter(DropWerkzeugRequestLines())
    return handler


def gunicorn_logconfig(format_name: str, access_log: bool) -> dict:
    """Return gunicorn's logconfig_dict: the master's and the workers' lines through one handler.

    gunicorn's own access line is off unless access_log: the app writes a
    better one. When on, its format (gunicorn.conf.py) must name no path.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"waypoint": {"()": make_handler, "format_name": format_name}},
        "root": {"level": "INFO", "handlers": ["waypoint"]},
        "loggers": {
            # No level: gunicorn's own --log-level stays in charge of these.
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO" if access_log else "WARNING", "handlers": [],
                                "propagate": True},
            # Flask-Migrate's import makes alembic announce its plugins in every worker.
            "alembic": {"level": "WARNING"},
        },
    }


# --- the app's side -----------------------------------------------------------------

def configure_logging(app) -> None:
    """Send the app's lines to stderr in its LOG_FORMAT, with request fields; log one line per request.

    Logging configured already is left alone: under gunicorn, gunicorn.conf.py
    set up the same handler from the same environment; under pytest, pytest's.
    """
    format_name = _checked(app.config["LOG_FORMAT"])
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(make_handler(format_name))
        root.setLevel(logging.INFO)
        # A warning printed bare would be the one line not in the format.
        logging.captureWarnings(True)
    _add_request_fields_to_records()
    # The clock starts before the other before_request hooks run; the line is
    # registered before the other after_request hooks, so it runs last and
    # logs the status that goes out.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)
    app.after_request(_log_request)


def request_id() -> str:
    """Return this request's id: a proxy's (if it looks like one), else a new one."""
    from flask import request

    environ = request.environ
    if _REQUEST_ID not in environ:
        forwarded = request.headers.get("X-Request-ID", "")
        environ[_REQUEST_ID] = forwarded if _FORWARDED_REQUEST_ID.fullmatch(forwarded) else uuid.uuid4().hex
    return environ[_REQUEST_ID]


def request_fields() -> dict:
    """Return the fields that name the current request without naming anyone."""
    from flask import request

    return {
        "request_id": request_id(),
        "method": request.method if request.method in _METHODS else "other",
        "route": request.url_rule.rule if request.url_rule is not None else None,
    }


def _add_request_fields_to_records() -> None:
    """Make every record created while a request is handled carry request_fields(), whatever its logger."""
    from flask import has_request_context

    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_fields", False):
        return

    def record_with_request_fields(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if has_request_context():
            setattr(record, _REQUEST_FIELDS, request_fields())
        return record

    record_with_request_fields.adds_request_fields = True
    logging.setLogRecordFactory(record_with_request_fields)


def _start_clock() -> None:
    from flask import request

    request.environ[_STARTED] = time.perf_counter()


def _log_request(response):
    from flask import request

    started = request.environ.get(_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    response.headers["X-Request-ID"] = request_id()
    level = logging.INFO
    if request.endpoint in PROBE_ENDPOINTS and response.status_code < 400:
        level = logging.DEBUG
    fields = request_fields()
    logging.getLogger(REQUEST_LOGGER).log(
        level, "%s %s %s %s ms", fields["method"], fields["route"] or "(no route)", response.status_code,
        duration_ms, extra={_RESPONSE_FIELDS: {"status": response.status_code, "duration_ms": duration_ms}})
    return response
