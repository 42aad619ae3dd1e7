"""The app's side of the logs (api/logs.py): every line names its request, and each request gets one line.

A line written while a request is handled carries its id, its method and its
route's rule, never the concrete path or the query string (they name
patients). The request's own line (logger waypoint.requests) adds the status
and the time taken, and the id goes back in X-Request-ID.
"""
import logging
import re
import secrets
import time

from flask import Flask, has_request_context, request

from .logs import RECORD_REQUEST_FIELDS, RECORD_RESPONSE_FIELDS, REQUEST_LOGGER, checked_format, make_handler
from .requests import current_request

# Health probes come every few seconds from every load balancer: a line each
# only when they fail.
PROBE_ENDPOINTS = frozenset({"health.Health", "health.Ready"})

_REQUEST_ID = "waypoint.request_id"
_FIELDS = "waypoint.request_fields"
_STARTED = "waypoint.request_started"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A proxy's request id is taken only in this shape: a header that could carry
# words (a name) must not reach the logs.
_FORWARDED_REQUEST_ID = re.compile(r"[0-9A-Fa-f-]{16,64}", re.ASCII)
_request_log = logging.getLogger(REQUEST_LOGGER)


def configure_logging(app: Flask) -> None:
    """Send the app's lines to stderr in its LOG_FORMAT, with request fields; log one line per request.

    Logging configured already is left alone: under gunicorn, gunicorn.conf.py
    set up the same handler from the same environment; under pytest, pytest's.
    """
    format_name = checked_format(app.config["LOG_FORMAT"])
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
    environ = request.environ
    if _REQUEST_ID not in environ:
        # The header as the WSGI server hands it over (what request.headers would read, without building them).
        forwarded = environ.get("HTTP_X_REQUEST_ID", "")
        # 128 random bits in hex, as uuid4().hex but for its version bits, without building a UUID.
        environ[_REQUEST_ID] = forwarded if _FORWARDED_REQUEST_ID.fullmatch(forwarded) else secrets.token_hex(16)
    return environ[_REQUEST_ID]


def request_fields() -> dict:
    """Return the fields that name the current request without naming anyone."""
    # Worked out once a request: its route is matched before any line is
    # written, and every line of the request (its own included) names it.
    # The request behind the proxy, read once: each look through it costs a context lookup.
    current = current_request()
    environ = current.environ
    fields = environ.get(_FIELDS)
    if fields is None:
        method, rule = current.method, current.url_rule
        fields = environ[_FIELDS] = {
            "request_id": request_id(),
            "method": method if method in _METHODS else "other",
            "route": rule.rule if rule is not None else None,
        }
    return fields


def _add_request_fields_to_records() -> None:
    """Make every record created while a request is handled carry request_fields(), whatever its logger."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_fields", False):
        return

    def record_with_request_fields(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if has_request_context():
            setattr(record, RECORD_REQUEST_FIELDS, request_fields())
        return record

    record_with_request_fields.adds_request_fields = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_request_fields)


def _start_clock() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _log_request(response):
    current = current_request()
    fields = request_fields()
    response.headers["X-Request-ID"] = fields["request_id"]
    level = logging.INFO
    if current.endpoint in PROBE_ENDPOINTS and response.status_code < 400:
        level = logging.DEBUG
    if not _request_log.isEnabledFor(level):
        return response
    started = current.environ.get(_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    # The record made and handled as Logger.log would (the record factory,
    # the logger's filters and handlers), but naming this function rather
    # than walking the stack to find its caller: a third of the line's cost
    # (callgrind: the floor 3.005 -> 2.967 M instructions; no line at all 2.891 M).
    _request_log.handle(_request_log.makeRecord(
        REQUEST_LOGGER, level, __file__, 0, "%s %s %s %s ms",
        (fields["method"], fields["route"] or "(no route)", response.status_code, duration_ms), None,
        "_log_request", {RECORD_RESPONSE_FIELDS: {"status": response.status_code, "duration_ms": duration_ms}}))
    return response
