"""Small HTTP helpers shared by the resources: JSON bodies, path days, versions, pages."""
import ipaddress
import json
import re
from datetime import date
from typing import Any

from flask import Flask, Request, current_app, request
from flask_smorest import abort
from werkzeug.routing import BaseConverter, IntegerConverter, Map

from models import Checkin, Role, User
from services.errors import InvalidInput, NotAllowed

from .auth import caller, token_holder_of_request

# --- JSON bodies ---------------------------------------------------------------------

# No body of this API nests deeper than 4 levels (a sync entry's list of codes).
# The bound is far below Python's recursion limit, so nothing that walks a body
# later (a schema, repr() in a message, json.dumps into a column) can overflow it.
MAX_JSON_DEPTH = 32
# No field needs a number of more than ~20 characters. Longer literals are
# refused before int() or float() reads them: int() raises ValueError past
# 4,300 digits, and a literal of 200,000 digits only costs time.
MAX_NUMBER_LENGTH = 100


class UnreadableBody(ValueError):
    """A request body this API will not read; its message is safe to show the client."""


def load_json(data: bytes | str) -> Any:
    """Parse a request body as JSON, refusing what would crash or burden a reader.

    Refused: bytes that are not UTF-8 (RFC 8259 section 8.1), invalid JSON, an
    object that names a field twice (two readers could take different values),
    nesting deeper than MAX_JSON_DEPTH, a number longer than MAX_NUMBER_LENGTH.
    NaN, Infinity and numbers past a double's range are read (as nan and inf):
    they are a field's problem, so a sync queue refuses only the entry that
    holds one.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableBody("The body is not UTF-8 text.") from None
    try:
        body = json.loads(data, parse_int=_integer, parse_float=_real, object_pairs_hook=_object)
    except RecursionError:
        raise UnreadableBody(_TOO_DEEP) from None
    except json.JSONDecodeError as error:
        raise UnreadableBody(f"The body is not valid JSON: {error.msg} at line {error.lineno}, "
                             f"column {error.colno}.") from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise UnreadableBody(_TOO_DEEP)
    return body


_TOO_DEEP = f"The body nests objects and lists more than {MAX_JSON_DEPTH} levels deep."
_TOO_LONG = f"The body holds a number of more than {MAX_NUMBER_LENGTH} characters."


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise UnreadableBody(_TOO_LONG)
    return int(literal)


def _real(literal: str) -> float:
    if len(literal) > MAX_NUMBER_LENGTH:
        raise UnreadableBody(_TOO_LONG)
    return float(literal)


def _object(pairs: list[tuple[str, Any]]) -> dict:
    body = dict(pairs)
    if len(body) != len(pairs):
        raise UnreadableBody("The body names a field twice in one object.")
    return body


def _depth(body: Any) -> int:
    """Return how deeply objects and lists nest in body (0 for a bare value), without recursion."""
    deepest, pending = 0, [(body, 1)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            pending.extend((child, level + 1) for child in value)
    return deepest


class _StrictJSON:
    """What Request.get_json reads bodies with (werkzeug's json_module): load_json."""

    loads = staticmethod(load_json)
    dumps = staticmethod(json.dumps)


class WaypointRequest(Request):
    """Flask's request, whose get_json() refuses what load_json refuses.

    get_json(silent=True), as the audit trail and the login limiter call it,
    then answers None for such a body instead of raising RecursionError.
    """

    # Flask gives each request the app's JSON provider (request.json_module =
    # app.json); request bodies keep load_json, and responses (which the audit
    # trail reads back) keep the provider's parser, four times faster.
    @property
    def json_module(self):
        return _StrictJSON

    @json_module.setter
    def json_module(self, _provider):
        pass

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, UnreadableBody):
            # A 400 problem that says what is wrong, in webargs' shape for a body it cannot parse.
            abort(400, message=str(e), errors={"json": [str(e)]})
        return super().on_json_loading_failed(e)


def refuse_unreadable_json() -> None:
    """Refuse a JSON body load_json will not read, or a body of another media type sent to
    an operation that reads JSON (415), before any view, limiter or schema reads it.

    webargs parses bodies with the standard library's json.loads, whose
    RecursionError and ValueError (too many digits) it does not catch. A
    body that passes load_json is one json.loads reads without either.
    """
    environ = request.environ
    if environ.get("CONTENT_LENGTH", "0") in ("", "0") and not environ.get("wsgi.input_terminated"):
        return  # no body to read (werkzeug reads one only with a length or a server-ended stream)
    if request.url_rule is None:
        return
    if request.is_json:
        if request.get_data(cache=True):
            request.get_json()
    elif _reads_json_body() and request.get_data(cache=True):
        # webargs would find no JSON and report every field "Missing data":
        # say instead what is wrong, the media type (RFC 9110 15.5.16).
        message = f"Send the body as application/json, not {request.mimetype or 'untyped'}."
        abort(415, message=message, errors={"json": [message]},
              headers={"Accept-Post": "application/json"} if request.method == "POST" else None)


def _reads_json_body() -> bool:
    """Return whether the matched operation takes a JSON body (a flask-smorest json argument)."""
    if request.url_rule is None:
        return False
    view = current_app.view_functions.get(request.url_rule.endpoint)
    method = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    parameters = getattr(method, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(parameter.get("in") == "json" for parameter in parameters)


def configure_requests(app: Flask) -> None:
    """Read every JSON body through load_json."""
    app.request_class = WaypointRequest
    app.before_request(refuse_unreadable_json)


# --- path and header values -----------------------------------------------------------

def client_address() -> str | None:
    """Return the caller's address; X-Forwarded-For counts only behind configured proxies.

    TRUSTED_PROXY_HOPS=n trusts the n proxies nearest the app, taking the
    address the farthest of them saw. Under werkzeug's ProxyFix the address
    is already the client's.
    """
    hops = current_app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops and "werkzeug.proxy_fix.orig" not in request.environ:
        forwarded = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(forwarded) >= hops:
            try:
                return str(ipaddress.ip_address(forwarded[-hops]))
            except ValueError:
                pass
    return request.remote_addr


class RecordIdConverter(IntegerConverter):
    """A record id in a URL (`<id:patient_id>`): a whole number that fits the database's integer.

    Without the bound, /patients/99999999999999999999 reaches the driver and
    overflows into a 500; with it, the route simply does not match (404).
    Flask's own `int` stays as it is for any route that wants it.
    """

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


class DayConverter(BaseConverter):
    """A local calendar day in a URL, YYYY-MM-DD; parsed (and refused) in the view."""

    regex = r"[^/]+"


# Exactly YYYY-MM-DD: date.fromisoformat would also take "20261123" and
# ISO week dates ("2026-W48-1"), which the contract does not promise.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_day(value: str, field: str = "date") -> date:
    """Return the date in value, or refuse it as a field error."""
    try:
        if not _DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("Not a date.", {field: ["Use a calendar date, YYYY-MM-DD."]}) from None


def etag(checkin: Checkin) -> str:
    """Return the ETag of a check-in: its version, quoted."""
    return f'"{checkin.version}"'


def parse_if_match(header: str | None) -> list[str] | None:
    """Return the versions an If-Match header names, ["*"], or None if absent.

    If-Match compares strongly (RFC 9110 13.1.1): a weak tag (W/"2") never
    matches, so a header of weak tags alone names no version and gets 412.
    """
    if header is None or not header.strip():
        return None
    if header.strip() == "*":
        return ["*"]
    versions = []
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            continue
        tag = tag.strip('"')
        if tag:
            versions.append(tag)
    return versions


def page_of(items, total: int, paging: dict) -> dict:
    """Return the page envelope for a list response."""
    return {"items": items, "total": total, "page": paging["page"], "page_size": paging["page_size"]}


def current_request() -> Request:
    """Return the request itself rather than Flask's proxy, for a hook that reads it many times.

    Each attribute read through the proxy first looks the request up in
    the context: one lookup instead of a dozen on every request.
    """
    return request._get_current_object()  # type: ignore[attr-defined]


def current_patient_id() -> int:
    """Return the caller's id if they are a patient (for /me/... patient routes), without building the user."""
    holder = token_holder_of_request()
    if holder.role is not Role.patient or not holder.has_patient_profile:
        raise NotAllowed("Only patients have check-ins of their own.")
    return holder.user_id


def current_patient() -> User:
    """Return the caller if they are a patient (for /me/... patient routes), with profile and organization."""
    current_patient_id()
    # The user itself, not the proxy: through current_user every attribute
    # a caller reads looks the token's user up again.
    return caller()
