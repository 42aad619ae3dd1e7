"""The audit trail: append one event per touch of patient data, and read an organization's trail.

Append-only by construction: this module has no update and no delete, and
on PostgreSQL a trigger refuses both (migration 0003).
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Insert,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
)

from models import AuditEvent, Role, User, db
from models.driver_sql import driver_statement

from .access import require_role
from .paging import one_page


@dataclass(frozen=True)
class AuditEntry:
    """One event as the caller knows it; the actor's role and organization are settled in the INSERT.

    For a failed sign-in, actor_email names the account the attempt was
    for (known or not); it is looked up, never stored.
    """

    occurred_at: datetime
    action: str
    resource: str
    outcome: str
    status_code: int | None
    actor_id: int | None = None
    actor_email: str | None = None
    patient_id: int | None = None
    client_address: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _build_insert(actor_by_email: bool) -> Insert:
    """Return the one INSERT that records an event, resolving actor and patient inside it.

    Scalar subqueries on primary keys (or the unique e-mail) stand in for a
    separate SELECT: the actor's role and organization; the patient, kept
    only if that id is a patient of the actor's organization (the foreign
    key would refuse an id that does not exist, and a row never names
    another organization's patient); and, for an anonymous attempt, the
    targeted patient's organization, so the attempt lands in its trail.
    """
    def lookup(column: str, user_id: ColumnElement[Any]) -> ColumnElement[Any]:
        user = User.__table__.alias()
        return select(user.c[column]).where(user.c.id == user_id).scalar_subquery()

    actor: ColumnElement[Any]
    if actor_by_email:
        by_email = User.__table__.alias("by_email")
        # An address may name accounts in several organizations: the attempt
        # lands in the newest one's trail (the account a login would try first).
        actor = (select(by_email.c.id)
                 .where(by_email.c.email == bindparam("actor_email", type_=String))
                 .order_by(by_email.c.id.desc()).limit(1).scalar_subquery())
    else:
        actor = bindparam("actor_id", type_=Integer)
    actor_organization = lookup("organization_id", actor)
    patient = User.__table__.alias("patient")
    named_patient = [patient.c.id == bindparam("patient_id", type_=Integer), patient.c.role == Role.patient]
    patient_in_reach = select(patient.c.id).where(
        *named_patient,
        or_(actor_organization.is_(None), patient.c.organization_id == actor_organization),
    ).scalar_subquery()
    patient_organization = select(patient.c.organization_id).where(*named_patient).scalar_subquery()
    # A mapped class's __table__ is a Table; SQLAlchemy types it as the wider FromClause.
    table = cast(Table, AuditEvent.__table__)
    # inline(): no RETURNING of the new row's id, which nothing reads (on
    # PostgreSQL a row sent back on every request's audit INSERT).
    return insert(table).inline().values(
        occurred_at=bindparam("occurred_at", type_=table.c.occurred_at.type),
        organization_id=func.coalesce(actor_organization, patient_organization),
        actor_id=lookup("id", actor) if actor_by_email else actor,
        actor_role=lookup("role", actor),
        action=bindparam("action", type_=String),
        resource=bindparam("resource", type_=String),
        patient_id=patient_in_reach,
        outcome=bindparam("outcome", type_=String),
        status_code=bindparam("status_code", type_=Integer),
        client_address=bindparam("client_address", type_=String),
        detail=bindparam("detail", type_=JSON),
    )


# Built once: SQLAlchemy caches the compiled form of each.
_INSERT_BY_ACTOR_ID = _build_insert(actor_by_email=False)
_INSERT_BY_ACTOR_EMAIL = _build_insert(actor_by_email=True)


def _execute_insert(connection: Connection, statement: Insert, params: dict[str, Any]) -> None:
    """Run the INSERT as the driver's SQL, compiled once per dialect.

    The floor's one write: executed as a statement, SQLAlchemy would work
    out its cache key (five subqueries deep) and convert its sixteen
    parameters through its generic path on every request, a tenth of the
    request's instructions for what stays the same each time. The same
    conversions run here (the UTC instant, the JSON detail), and errors
    come back as SQLAlchemy's, through its events.
    """
    driver_statement(connection, statement).execute(connection, params)


def append_audit_event(entry: AuditEntry) -> None:
    """Write one event in a transaction of its own, kept whatever becomes of the caller's."""
    statement, params = _insert_of(entry)
    with db.engine.begin() as connection:
        _execute_insert(connection, statement, params)


def stage_audit_event(entry: AuditEntry, connection: Connection | None = None) -> None:
    """Add one event to the session's unit of work: it is kept if, and only if, that commits.

    For a request whose outcome is settled before its commit; whoever calls
    this must write the event anew (append_audit_event) should the commit fail.
    connection: the session's connection, where the caller holds it already.
    """
    statement, params = _insert_of(entry)
    # On the session's connection: the same transaction, without the ORM's
    # execution layer, which a Core INSERT does not need.
    _execute_insert(connection or db.session.connection(), statement, params)


def _insert_of(entry: AuditEntry) -> tuple[Insert, dict[str, Any]]:
    by_email = entry.actor_id is None and entry.actor_email is not None
    params: dict[str, Any] = {
        "occurred_at": entry.occurred_at, "action": entry.action, "resource": entry.resource[:120],
        "outcome": entry.outcome, "status_code": entry.status_code,
        "patient_id": entry.patient_id, "detail": entry.detail,
        "client_address": entry.client_address[:64] if entry.client_address else None,
    }
    if by_email:
        params["actor_email"] = entry.actor_email
    else:
        params["actor_id"] = entry.actor_id
    return _INSERT_BY_ACTOR_EMAIL if by_email else _INSERT_BY_ACTOR_ID, params


def list_audit_events(
    actor: User, *, actor_id: int | None = None, patient_id: int | None = None,
    action: str | None = None, outcome: str | None = None,
    occurred_from: date | datetime | None = None, occurred_to: date | datetime | None = None,
    page: int = 1, page_size: int = 50,
) -> tuple[list[AuditEvent], int]:
    """Return a page of the actor's organization's events, newest first, and the total (admins).

    A day given as a bound covers that whole UTC day: from its start, to its end.
    """
    require_role(actor, Role.admin)
    conditions = [AuditEvent.organization_id == actor.organization_id]
    if actor_id is not None:
        conditions.append(AuditEvent.actor_id == actor_id)
    if patient_id is not None:
        conditions.append(AuditEvent.patient_id == patient_id)
    if action is not None:
        conditions.append(AuditEvent.action == action)
    if outcome is not None:
        conditions.append(AuditEvent.outcome == outcome)
    if occurred_from is not None:
        conditions.append(AuditEvent.occurred_at >= _instant(occurred_from))
    if occurred_to is not None:
        if isinstance(occurred_to, datetime):
            conditions.append(AuditEvent.occurred_at <= _instant(occurred_to))
        else:
            conditions.append(AuditEvent.occurred_at < _instant(occurred_to + timedelta(days=1)))
    query, total = one_page(
        select(AuditEvent).where(*conditions)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()),
        page, page_size,
    )
    return list(db.session.scalars(query)), total


def _instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.combine(value, time.min, tzinfo=timezone.utc)

