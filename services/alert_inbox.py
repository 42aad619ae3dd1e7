"""The care team's side of alerts: the inbox (list, acknowledge, resolve) and the caseload's alert counts."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import case, exists, func, select

from models import Alert, AlertSeverity, AlertStatus, CareTeamMember, Role, User, db
from models.caseload import lock_patient

from .access import patient_in_reach, require_role
from .errors import Conflict, NotFound
from .paging import one_page


class AlertNotOpen(Conflict):
    """Only an open alert can be acknowledged."""


class AlertAlreadyResolved(Conflict):
    """A resolved alert stays resolved; a new trigger opens a new alert."""


ACTIVE_STATUSES = (AlertStatus.open, AlertStatus.acknowledged)


def list_alerts(actor: User, *, status: AlertStatus | None = None, severity: AlertSeverity | None = None,
                patient_id: int | None = None, page: int = 1, page_size: int = 50) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the alerts the actor may see, most recently triggered first, and the total.

    Without a status, the ones still to work: open and acknowledged.
    """
    require_role(actor, Role.clinician, Role.admin)
    conditions = [Alert.organization_id == actor.organization_id,
                  Alert.status.in_([status] if status else ACTIVE_STATUSES)]
    if patient_id is not None:
        conditions.append(Alert.patient_id == patient_in_reach(actor, patient_id).user_id)
    if actor.role is Role.clinician:
        conditions.append(exists().where(CareTeamMember.patient_id == Alert.patient_id,
                                         CareTeamMember.clinician_id == actor.id))
    if severity is not None:
        conditions.append(Alert.severity == severity)
    query, total = one_page(
        select(Alert, User.display_name).join(User, User.id == Alert.patient_id).where(*conditions)
        .order_by(Alert.last_triggered_at.desc(), Alert.id.desc()),
        page, page_size,
    )
    return [alert_entry(alert, name) for alert, name in db.session.execute(query)], total


def acknowledge_alert(actor: User, alert_id: int, note: str | None, now: datetime) -> dict[str, Any]:
    """Mark an open alert as seen by actor, with an optional note."""
    alert, name = _alert_in_reach(actor, alert_id)
    if alert.status is not AlertStatus.open:
        raise AlertNotOpen(f"The alert is {alert.status.value}; only an open alert can be acknowledged.")
    alert.status = AlertStatus.acknowledged
    alert.acknowledged_at = now
    alert.acknowledged_by_id = actor.id
    alert.acknowledge_note = _note(note)
    db.session.flush()
    return alert_entry(alert, name)


def resolve_alert(actor: User, alert_id: int, note: str | None, now: datetime) -> dict[str, Any]:
    """Close an open or acknowledged alert; the rule's next trigger opens a new one."""
    alert, name = _alert_in_reach(actor, alert_id)
    if alert.status is AlertStatus.resolved:
        raise AlertAlreadyResolved("The alert is already resolved.")
    alert.status = AlertStatus.resolved
    alert.resolved_at = now
    alert.resolved_by_id = actor.id
    alert.resolve_note = _note(note)
    alert.open_key = None
    db.session.flush()
    return alert_entry(alert, name)


def _alert_in_reach(actor: User, alert_id: int) -> tuple[Alert, str]:
    require_role(actor, Role.clinician, Role.admin)
    in_organization = (Alert.id == alert_id, Alert.organization_id == actor.organization_id)
    patient_id = db.session.scalar(select(Alert.patient_id).where(*in_organization))
    if patient_id is None:
        raise NotFound("No such alert.")
    # The patient's lock before the alert's, as every check-in writer takes them: a clinician
    # working the alert a sync is raising again queues behind it instead of deadlocking.
    lock_patient(patient_id)
    alert = db.session.scalars(
        select(Alert).where(*in_organization).with_for_update().execution_options(populate_existing=True)
    ).one()
    try:
        profile = patient_in_reach(actor, alert.patient_id)
    except NotFound:
        raise NotFound("No such alert.") from None
    return alert, profile.user.display_name


def _note(note: str | None) -> str | None:
    return (note or "").strip() or None


def alert_entry(alert: Alert, display_name: str) -> dict[str, Any]:
    """Return an alert as the care team reads it."""
    return {
        "id": alert.id, "patient": {"id": alert.patient_id, "display_name": display_name},
        "rule": alert.rule, "severity": alert.severity, "status": alert.status, "summary": alert.summary,
        "evidence": dict(alert.evidence or {}), "local_day": alert.local_day,
        "first_triggered_at": alert.first_triggered_at, "last_triggered_at": alert.last_triggered_at,
        "trigger_count": alert.trigger_count,
        "acknowledged_at": alert.acknowledged_at, "acknowledged_by_id": alert.acknowledged_by_id,
        "acknowledge_note": alert.acknowledge_note,
        "resolved_at": alert.resolved_at, "resolved_by_id": alert.resolved_by_id,
        "resolve_note": alert.resolve_note,
    }


# --- for the caseload -----------------------------------------------------------------------------

def open_alert_counts(patient_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Return {patient id: {"open": n, "urgent": n}} of unresolved alerts, in one statement.

    "open" counts open and acknowledged alerts (both still to be worked);
    every id asked for is a key.
    """
    ids = list(dict.fromkeys(patient_ids))
    counts = {patient_id: {"open": 0, "urgent": 0} for patient_id in ids}
    if not ids:
        return counts
    rows = db.session.execute(
        select(Alert.patient_id, func.count(),
               func.sum(case((Alert.severity == AlertSeverity.urgent, 1), else_=0)))
        .where(Alert.patient_id.in_(ids), Alert.status.in_(ACTIVE_STATUSES))
        .group_by(Alert.patient_id)
    )
    for patient_id, active, urgent in rows:
        counts[patient_id] = {"open": active, "urgent": int(urgent or 0)}
    return counts


class AlertBrief(NamedTuple):
    """An alert as the caseload needs it."""

    id: int
    patient_id: int
    rule: str
    severity: AlertSeverity
    status: AlertStatus
    local_day: date


def alerts_by_patient(patient_ids: Iterable[int], since: date) -> dict[int, list[AlertBrief]]:
    """Return each patient's alerts last triggered on or after since (any status), in one statement."""
    ids = list(dict.fromkeys(patient_ids))
    alerts: dict[int, list[AlertBrief]] = {patient_id: [] for patient_id in ids}
    if not ids:
        return alerts
    rows = db.session.execute(
        select(Alert.id, Alert.patient_id, Alert.rule, Alert.severity, Alert.status, Alert.local_day)
        .where(Alert.patient_id.in_(ids), Alert.local_day >= since)
        .order_by(Alert.patient_id, Alert.local_day, Alert.id)
    )
    for row in rows:
        alerts[row.patient_id].append(AlertBrief(*row))
    return alerts
