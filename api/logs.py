"""Log lines without patient data: one JSON object a line in production, text on a laptop.

Every line names when, how bad, which logger and what happened; a line written
while a request is handled also names the request: its id, its method and the
route's rule (`/api/v1/patients/<id:patient_id>`), never the concrete path or
the query string, which name patients and can carry anything. The app writes
one line per request (logger `waypoint.requests`) with the status and the
time taken. No line carries an exception's message: it may quote patient data
(a database error quotes the statement's values), so the type and the trace
stand in for it. Nor do the app's lines name the caller's address: it
identifies a patient, and the audit trail is the one place that records it.
The app's side of this (the request fields and the line per request) is in
api/request_log.py.
(werkzeug's development server quotes address and path in text mode; in JSON
mode its lines about requests are left out.)

gunicorn.conf.py loads this file by its path in gunicorn's master, so that the
master's lines share the format. The master must not import the app package
(or Flask): the workers fork from it, and after a reload (HUP) they would go on
running the code the master imported. So this module imports the standard
library only; the request hooks, which need Flask, are in api/request_log.py.
"""
import json
import logging
import os
import re
import sys
import traceback
from datetime import datetime, timezone

FORMATS = ("json", "text")
REQUEST_LOGGER = "waypoint.requests"
# LogRecord attributes that carry a request's fields (api/request_log.py sets
# them); prefixed, so that no `extra=` clashes.
RECORD_REQUEST_FIELDS = "waypoint_request"
RECORD_RESPONSE_FIELDS = "waypoint_response"
_TEXT_LAYOUT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def log_format(environ=os.environ) -> str:
    """Return the format the environment asks for: LOG_FORMAT, else json in production, else text."""
    chosen = (environ.get("LOG_FORMAT") or "").strip().lower()
    if not chosen:
        return "json" if environ.get("WAYPOINT_ENV") == "production" else "text"
    return checked_format(chosen)


def checked_format(format_name: str) -> str:
    """Return format_name if it is one of FORMATS, else refuse to start."""
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
        line.update(getattr(record, RECORD_REQUEST_FIELDS, None) or {})
        line.update(getattr(record, RECORD_RESPONSE_FIELDS, None) or {})
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
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        parts.append("Traceback (most recent call last):\n"
                     + "".join(traceback.format_tb(current.__traceback__))
                     + f"{kind.__module__}.{kind.__qualname__} (message withheld)")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
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
        elif (record.name == "flask-limiter" and record.msg.startswith("ratelimit %s (%s) exceeded")
              and isinstance(record.args, tuple) and len(record.args) > 1
              and str(record.args[1]).startswith("address:")):
            # An account's key is a keyed hash (api/security.py) and may stay; an address may not.
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
    checked_format(format_name)
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
