"""The audit trail's HTTP side: one event per request to a route that touches patient data.

Which routes those are, and what each one's event names, is api.audit_plans'
classification; this module writes the events and keeps patient data out of
the logs.

The event is written after the response is decided (after_request, or
teardown when an exception escaped), with one INSERT in a transaction of its
own: it is kept when the request's own work was refused or rolled back, and
it never joins the request's unit of work. A transaction that only read has
no work to undo, so it carries the event and commits (api.database's
transaction_wrote tells). The other exception: a view whose
answer is settled before it commits may commit its event with its work
(commit_with_audit), one transaction instead of two; should that commit
fail, the failure is recorded the usual way.
"""
import logging
import re
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, request
from flask.globals import request_ctx
from flask_jwt_extended import decode_token, get_jwt
from sqlalchemy.exc import DBAPIError

from models import db, utcnow
from services.audit import AuditEntry, append_audit_event, stage_audit_event

from .audit_plans import Audited, audit_plan
from .database import committed_statement_by_statement, transaction_wrote
from .logs import trace_without_messages
from .requests import client_address, current_request

log = logging.getLogger("waypoint.audit")


# Refusals: the caller may not (or may no longer) do this.
_DENIED = frozenset({401, 403, 404, 429})
_READS = frozenset({"GET", "HEAD"})
# Query values that say nothing about a patient; every other value stays out of the trail.
_SAFE_QUERY_KEYS = ("page", "page_size", "format")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,20}", re.ASCII)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_MAX_LISTED = 200
_RECORDED = "waypoint.audit.recorded"
_EARLIER_CLAIMS = "waypoint.audit.earlier_claims"
_NAMED_ACTOR = "waypoint.audit.named_actor"


def register_audit(app: Flask) -> None:
    """Record every request to an audited route, and keep patient data out of the logs."""
    # First of the before_request hooks: one that verifies a token early
    # (a rate limiter keyed by user) must not look like an earlier request's.
    app.before_request_funcs.setdefault(None, []).insert(0, _note_earlier_claims)
    app.after_request(_audit_response)
    app.teardown_request(_audit_escaped_exception)
    _withhold(app.logger, WithholdExceptionMessages)
    _withhold(logging.getLogger("waypoint.errors"), WithholdExceptionMessages)
    _withhold(logging.getLogger("werkzeug"), WithholdQueryStrings)


# --- the request hooks ---------------------------------------------------------

def _note_earlier_claims() -> None:
    # Tests push one app context for many requests, so flask_jwt_extended's
    # claims in g can be an earlier request's: remember them to tell apart.
    request.environ[_EARLIER_CLAIMS] = _claims_in_g()


def _audit_response(response: Response) -> Response:
    plan = _plan_for_request()
    if plan is not None:
        _record(plan, response.status_code, response)
    return response


def _audit_escaped_exception(error: BaseException | None) -> None:
    if error is None:
        return
    plan = _plan_for_request()
    if plan is not None:
        _record(plan, 500, None)


def _plan_for_request() -> Audited | None:
    # The request behind the proxy, read once: each look through it costs a context lookup.
    current = current_request()
    rule = current.url_rule
    if rule is None or current.method == "OPTIONS" or current.environ.get(_RECORDED):
        return None
    return audit_plan(rule)


def _record(plan: Audited, status: int, response: Response | None) -> None:
    request.environ[_RECORDED] = True
    try:
        entry = _entry(plan, status, response)
        if response is None or not response.is_streamed:
            if not transaction_wrote(db.session()) and _commit_in_request_transaction(entry):
                return
            # End the request's transaction first (what was meant to stay is
            # committed; the rest would be rolled back at teardown anyway):
            # on SQLite it may hold the write lock, on PostgreSQL row locks
            # that the audit INSERT's foreign keys would wait on for ever.
            # Its connection goes back to the pool before ours is taken.
            db.session.rollback()
        append_audit_event(entry)
    except Exception as error:  # noqa: BLE001 - the response stands; say so without data
        log.error("audit event not recorded for %s %s: %s", request.method, request.endpoint,
                  type(error).__name__)


def _commit_in_request_transaction(entry: AuditEntry) -> bool:
    """Commit the event in the request's own transaction, which only read; tell whether it is committed.

    Nothing of the request's is undone by committing a transaction that
    wrote nothing, and it saves a rollback, a second checkout of a
    connection and its begin (on PostgreSQL three round trips of a floor
    request's ten). If that commit fails, the caller writes the event anew.
    """
    session = db.session()
    try:
        connection = session.connection()
        with committed_statement_by_statement(connection):
            stage_audit_event(entry, connection)
        if request.method in _READS and _session_ends_with_request():
            # The answer is built and the session is closed with the request,
            # which gives its connection back: nothing reads its rows again
            # or works in it. The transaction's own commit is all that is
            # needed; the session's would flush nothing, expire every row
            # (a tenth of the floor) and run its own bookkeeping for a
            # session about to close. Reads only: a write request's
            # teardown rolls the session back (api.database), which would
            # then warn that its transaction had ended under it.
            connection.commit()
        else:
            session.commit()
    except DBAPIError:
        session.rollback()
        return False
    return True


def _session_ends_with_request() -> bool:
    """Tell whether the database session ends with this request: it pushed the app context the session lives in.

    Every request a server hands over does; a test that holds one app
    context across requests does not, and its session must not carry rows
    unexpired into the next request. Flask says so only in the request
    context's private tokens; if they are not as expected, the answer is
    no, the side that expires.
    """
    tokens = getattr(request_ctx, "_cv_tokens", None)
    try:
        return tokens[-1][1] is not None  # type: ignore[index]
    except (IndexError, TypeError):
        return False


def commit_with_audit(status: int, *shown, listed: list[int] | None = None) -> None:
    """Commit the request's unit of work with its audit event inside: one transaction, one durable commit.

    For a view whose answer is settled before it commits (status) and whose
    event needs nothing from the response body: a patient's own write, or
    a page whose patients the view names (listed: each item's patient, in
    order). The event then lands with the work or not at all; if the commit
    fails, nothing is marked recorded, and the failure is recorded like any
    other request's (after_request or teardown, in a transaction of its own).
    A read with no work to commit writes the event alone, committed as it
    returns, as after_request does for any other read.

    shown: the rows the response shows as just written. They are detached
    before the commit, which would otherwise expire them and make the
    response read each back with a SELECT.
    """
    plan = _plan_for_request()
    named = plan is not None and plan.patient == "response" and listed is not None
    if plan is not None and not named and (plan.action is not None or plan.patient not in ("caller", "path")):
        plan = None  # the event needs the response: after_request writes it
    session = db.session()
    if plan is not None and not shown and request.method in _READS and not transaction_wrote(session):
        # A read with nothing of its own to land with the event (a caseload
        # whose figures were all kept): it goes in as the floor's does, one
        # statement committed as it returns (no BEGIN or COMMIT round trip on
        # PostgreSQL, SQLite's write lock held inside one call of the
        # driver's) and no ORM commit to expire what the session holds. If
        # that fails, after_request writes the event anew, as for any read.
        if _commit_in_request_transaction(_entry(plan, status, None, listed)):
            request.environ[_RECORDED] = True
        return
    if plan is not None:
        stage_audit_event(_entry(plan, status, None, listed), session.connection())
    for row in shown:
        if row in session:
            session.expunge(row)
    session.commit()
    if plan is not None:
        request.environ[_RECORDED] = True


def name_actor(user_id: int) -> None:
    """Name the account a request acted for where no bearer token says who (a reset link)."""
    request.environ[_NAMED_ACTOR] = user_id


def _entry(plan: Audited, status: int, response: Response | None, listed: list[int] | None = None) -> AuditEntry:
    outcome = "allowed" if status < 400 else "denied" if status in _DENIED else "failed"
    current = current_request()
    environ = current.environ
    claims = _claims_in_g()
    if _EARLIER_CLAIMS not in environ or claims is environ[_EARLIER_CLAIMS]:
        claims = None
    actor_id = _user_id(claims.get("sub")) if claims else environ.get(_NAMED_ACTOR)
    actor_email = None
    if plan.action in ("login", "register"):
        if outcome == "allowed" and response is not None:
            actor_id = _issued_to(response)
        elif plan.action == "login":
            actor_email = _email_tried()
    view_args = current.view_args or {}
    method = current.method
    detail: dict[str, Any] = {"method": method}
    for name, value in view_args.items():
        # Record ids and days name what was touched; other path text is left out.
        if name != "patient_id" and (isinstance(value, int) or (isinstance(value, str) and _DAY.fullmatch(value))):
            detail[name] = value
    args = current.args
    if args:
        for name in _SAFE_QUERY_KEYS:
            value = args.get(name)
            if value is not None and _SAFE_VALUE.fullmatch(value):
                detail[name] = value
    patient_id = None
    if plan.patient == "path":
        patient_id = view_args.get(plan.path_argument)
        if outcome != "allowed" and "patient_id" in view_args:
            # The row keeps only a patient of the actor's organization;
            # the id tried is worth keeping whatever it named.
            detail["requested_patient_id"] = patient_id
    elif plan.patient == "caller":
        patient_id = actor_id
    elif plan.patient == "response" and outcome == "allowed" and listed is not None:
        patient_id, shown = _page_of_patients(listed)
        detail.update(shown)
    elif plan.patient == "response" and outcome == "allowed" and response is not None:
        patient_id, shown = _patients_named(response, plan.items_are_patients)
        detail.update(shown)
    elif plan.patient == "none" and outcome == "allowed" and response is not None:
        detail.update(_count_listed(response))
    return AuditEntry(
        occurred_at=utcnow(), action=plan.action or ("read" if method in _READS else "write"),
        # An audited request has an endpoint: its plan was found by it.
        resource=current.endpoint or "", outcome=outcome, status_code=status, actor_id=actor_id,
        actor_email=actor_email, patient_id=patient_id, client_address=client_address(), detail=detail,
    )


def _claims_in_g() -> dict | None:
    try:
        return get_jwt()
    except RuntimeError:
        return None


def _user_id(subject) -> int | None:
    try:
        return int(subject)
    except (TypeError, ValueError):
        return None


def _issued_to(response: Response) -> int | None:
    """Return the user a successful sign-in issued tokens to."""
    body = response.get_json(silent=True)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        return None
    try:
        return _user_id(decode_token(token).get("sub"))
    except Exception:  # noqa: BLE001 - not our token: no actor
        return None


def _email_tried() -> str | None:
    """Return the e-mail a sign-in named, to find the account (never stored)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return email.strip().lower()[:254] if isinstance(email, str) else None


def _patients_named(response: Response, items_are_patients: bool) -> tuple[int | None, dict]:
    """Return the patient a response is about, and for a page the count and ids shown."""
    if response.is_streamed or not response.is_json:
        return None, {}
    body = response.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return _page_of_patients([_patient_of(item, items_are_patients) for item in body["items"]])
    return _patient_of(body, False), {}


def _page_of_patients(items: Sequence[int | None]) -> tuple[int | None, dict]:
    """Return the one patient a page is about (if one), and its count and ids shown."""
    shown = sorted({patient for patient in items if patient is not None})
    only = shown[0] if len(shown) == 1 else None
    return only, {"count": len(items), "patient_ids": shown[:_MAX_LISTED]}


def _count_listed(response: Response) -> dict:
    """Return how many entries a page showed."""
    body = response.get_json(silent=True) if response.is_json and not response.is_streamed else None
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return {"count": len(body["items"])}
    return {}


def _patient_of(item, is_patient_record: bool) -> int | None:
    if not isinstance(item, dict):
        return None
    if is_patient_record:
        candidate = item.get("id")
    elif "patient_id" in item:
        candidate = item["patient_id"]
    else:
        candidate = item.get("patient", {}).get("id") if isinstance(item.get("patient"), dict) else None
    return candidate if isinstance(candidate, int) and not isinstance(candidate, bool) else None


# --- logs without patient data ------------------------------------------------

def _withhold(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())


class WithholdExceptionMessages(logging.Filter):
    """Log an exception's type and trace, not its message: a message may quote patient data.

    A database error's message, for one, carries the statement's parameters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = trace_without_messages(record.exc_info[1])
            record.exc_info = None
        return True


class WithholdQueryStrings(logging.Filter):
    """Cut the query string out of werkzeug's access log lines."""

    _QUERY = re.compile(r"\?[^\s'\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._QUERY.sub("?[withheld]", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True
