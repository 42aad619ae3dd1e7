"""Raising alerts: one open alert per rule per patient, the after-write hooks, the daily absence pass.

The rules and their thresholds are services.alert_rules; the check-in hook is
services.checkin_alerts; the care team's inbox is services.alert_inbox.

When a check-in raises a rule
    A check-in fires a rule when the rule holds with the check-in as written
    and did not hold with its previous version (or without it, for a new
    day). So a retried or re-edited check-in does not raise again what it
    raised already, a late entry for an old day cannot raise a rule about the
    last few days, and a rule a clinician resolved does not come back the next
    morning on the same evidence: it comes back when a check-in makes it true
    again. Questionnaire and attendance rules fire on every new response or
    session that meets them. Every alert's evidence names its source (the
    check-in version, response or session); a hook run again for a source a
    rule has already taken into account (its latest alert came from that
    source, or was triggered after the source was written) raises nothing, so
    a phone that resends an unchanged check-in cannot reopen a resolved alert.

One open alert per rule per patient
    ``Alert.open_key`` ("<patient id>:<rule>", unique, NULL once resolved)
    holds it. A repeat while the alert is open or acknowledged updates it
    (trigger_count, last_triggered_at, evidence, summary, severity at least as
    high as before) instead of adding one; two writers inserting at once are
    settled by the unique key inside a savepoint, the loser updating the
    winner's alert. ``local_day`` is the patient's local day of the latest
    trigger.

Urgent alerts
    Every active clinician on the patient's care team gets a neutral e-mail,
    sent after the commit (services.mail), with no name, rule or score: when an
    urgent alert opens, when an alert becomes urgent, and when an urgent alert
    someone had acknowledged is triggered again. A repeat of an urgent alert
    nobody has looked at yet sends nothing more.

Summaries carry figures, dates and closed-vocabulary codes, never text the
patient wrote.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from models import (
    Alert,
    AlertSeverity,
    AlertStatus,
    AssessmentResponse,
    AttendanceRecord,
    AttendanceStatus,
    Checkin,
    Organization,
    PatientProfile,
    User,
    db,
    savepoint,
)

from .access import own_profile
from .alert_rules import (
    DISENGAGEMENT,
    SEVERITY_RANK,
    Finding,
    assessment_findings,
    disengagement_rule,
    missed_sessions_rule,
    thresholds,
    thresholds_from,
)
from .assessment_history import score_history
from .crisis import crisis_signal
from .days import local_today
from .notices import notify_care_team

# --- raising --------------------------------------------------------------------------------------

class PatientRef(Protocol):
    """Enough of a patient to raise an alert for them: a User or a PatientKey."""

    @property
    def id(self) -> int: ...

    @property
    def organization_id(self) -> int: ...


def open_key(patient_id: int, rule: str) -> str:
    """Return the key that holds one open alert per (patient, rule)."""
    return f"{patient_id}:{rule}"


def raise_alert(patient: PatientRef, rule: str, severity: AlertSeverity | str, summary: str,
                evidence: dict[str, Any], local_day: date, now: datetime) -> Alert:
    """Open an alert for (patient, rule), or update the one still open or acknowledged.

    Flushes only. An urgent alert owes the care team a notice (services.notices), sent after the commit.
    """
    severity = AlertSeverity(severity)
    key = open_key(patient.id, rule)
    alert = _live_alert(key)
    if alert is None:
        alert = Alert(
            organization_id=patient.organization_id, patient_id=patient.id, rule=rule, severity=severity,
            status=AlertStatus.open, summary=summary[:300], evidence=evidence, open_key=key,
            first_triggered_at=now, last_triggered_at=now, trigger_count=1, local_day=local_day,
        )
        nested = savepoint()
        try:
            db.session.add(alert)
            db.session.flush()
        except IntegrityError:
            # Another writer opened it a moment ago: count ours as a repeat of theirs.
            nested.rollback()
            alert = _live_alert(key)
            if alert is None:
                raise
        else:
            nested.commit()
            if severity is AlertSeverity.urgent:
                notify_care_team(alert, now)
            return alert
    if _repeat(alert, severity, summary, evidence, local_day, now):
        notify_care_team(alert, now)
    db.session.flush()
    return alert




def _live_alert(key: str) -> Alert | None:
    # FOR UPDATE (PostgreSQL): concurrent repeats queue here and each counts.
    return db.session.scalars(
        select(Alert).where(Alert.open_key == key).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _repeat(alert: Alert, severity: AlertSeverity, summary: str, evidence: dict[str, Any], local_day: date,
            now: datetime) -> bool:
    """Count a repeat on a live alert; return whether the care team must hear of it again."""
    escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]
    looked_at = alert.status is AlertStatus.acknowledged
    alert.trigger_count += 1
    alert.last_triggered_at = now
    alert.local_day = max(alert.local_day, local_day)
    alert.summary = summary[:300]
    alert.evidence = evidence
    if escalated:
        alert.severity = severity
    return alert.severity is AlertSeverity.urgent and (escalated or looked_at)


def _raise_findings(patient: PatientRef, findings: Iterable[Finding], source: str, written_at: datetime,
                    local_day: date, now: datetime) -> list[Alert]:
    findings = list(findings)
    if not findings:
        return []
    seen = _rules_seen(patient.id, [f.rule for f in findings], source, written_at)
    return [
        raise_alert(patient, f.rule, f.severity, f.summary, {**f.evidence, "source": source}, local_day, now)
        for f in findings if f.rule not in seen
    ]


def _rules_seen(patient_id: int, rules: list[str], source: str, written_at: datetime) -> set[str]:
    """Return the rules that already took account of source: a retried write or hook.

    A rule's latest alert was last triggered by source itself, or after source
    was written (so the hook ran for it back then, and a later trigger followed).
    """
    latest: dict[str, tuple[dict[str, Any], datetime]] = {}
    for rule, evidence, triggered_at in db.session.execute(
        select(Alert.rule, Alert.evidence, Alert.last_triggered_at)
        .where(Alert.patient_id == patient_id, Alert.rule.in_(rules)).order_by(Alert.id.desc())
    ):
        latest.setdefault(rule, (evidence or {}, triggered_at))
    return {rule for rule, (evidence, triggered_at) in latest.items()
            if evidence.get("source") == source or triggered_at > written_at}



# --- hooks: call each right after the write, before the commit ------------------------------------
# (the check-in hook is services.checkin_alerts)

def alerts_after_assessment(patient: User, response: AssessmentResponse, now: datetime) -> list[Alert]:
    """Raise what a newly stored questionnaire response meets; flushes only."""
    today = local_today(now, own_profile(patient).timezone)
    limits = thresholds(db.session.get(Organization, patient.organization_id))
    previous_total = None
    if response.instrument in ("phq9", "gad7"):
        history = score_history(patient.id, response.instrument)
        entry = next((e for e in history if e["response_id"] == response.id), None)
        if entry is not None and entry["change"]["from_previous"] is not None:
            previous_total = response.total - entry["change"]["from_previous"]
    findings = assessment_findings(
        response.instrument, local_day=response.local_day, total=response.total,
        previous_total=previous_total, crisis=crisis_signal(response) is not None, item9=response.item9,
        subscales=response.subscales, limits=limits,
    )
    return _raise_findings(patient, findings, f"response:{response.id}", response.submitted_at, today, now)


def alerts_after_attendance(patient_id: int, record: AttendanceRecord, now: datetime) -> list[Alert]:
    """Raise what a newly recorded session makes true (missed sessions); flushes only."""
    if AttendanceStatus(record.status) is not AttendanceStatus.missed:
        return []
    patient = db.session.get_one(User, patient_id)
    today = local_today(now, own_profile(patient).timezone)
    limits = thresholds(db.session.get(Organization, patient.organization_id))
    # A quarter back shows any run worth an alert; an older start would only lengthen it.
    since = record.session_date - timedelta(days=90)
    sessions = db.session.execute(
        select(AttendanceRecord.id, AttendanceRecord.session_date, AttendanceRecord.status)
        .where(AttendanceRecord.patient_id == patient_id, AttendanceRecord.session_date >= since)
        .order_by(AttendanceRecord.session_date, AttendanceRecord.id)
    ).all()
    finding = missed_sessions_rule(sessions, record.id, limits)
    return _raise_findings(patient, [finding] if finding else [], f"attendance:{record.id}",
                           record.recorded_at, today, now)


def daily_absence_pass(now: datetime, organization_id: int | None = None) -> int:
    """Raise or repeat disengagement for every silent patient; return how many alerts.

    Runs a fixed number of statements whatever the number of patients. Once a
    clinician resolves a patient's disengagement alert, the same silence does
    not raise it again; the next check-in starts a new count. Running twice on
    one local day counts once.
    """
    organizations = select(Organization.id, Organization.alert_thresholds)
    if organization_id is not None:
        organizations = organizations.where(Organization.id == organization_id)
    limits_of = {row.id: thresholds_from(row.alert_thresholds) for row in db.session.execute(organizations)}
    if not limits_of:
        return 0
    shortest = min(limits["quiet_days"] for limits in limits_of.values())
    # No zone is more than a day ahead of UTC: a cheap first cut, exact per patient below.
    latest_today = now.astimezone(timezone.utc).date() + timedelta(days=1)
    resolved, live = aliased(Alert), aliased(Alert, name="live")
    last_day = (select(func.max(Checkin.day)).where(Checkin.patient_id == PatientProfile.user_id)
                .correlate(PatientProfile).scalar_subquery())
    last_resolved = (select(func.max(resolved.local_day))
                     .where(resolved.patient_id == PatientProfile.user_id, resolved.rule == DISENGAGEMENT,
                            resolved.status == AlertStatus.resolved)
                     .correlate(PatientProfile).scalar_subquery())
    rows = db.session.execute(
        select(User.id, User.organization_id, PatientProfile.timezone, PatientProfile.enrolled_at,
               last_day.label("last_day"), last_resolved.label("last_resolved"), live)
        .join(PatientProfile, PatientProfile.user_id == User.id)
        .outerjoin(live, and_(live.patient_id == User.id, live.rule == DISENGAGEMENT,
                              live.open_key.is_not(None)))
        .where(User.is_active.is_(True), User.organization_id.in_(list(limits_of)))
        .where(or_(last_day <= latest_today - timedelta(days=shortest),
                   and_(last_day.is_(None),
                        PatientProfile.enrolled_at <= now - timedelta(days=shortest - 1))))
    ).all()

    new_alerts, repeated = [], 0
    for row in rows:
        today = local_today(now, row.timezone)
        finding = disengagement_rule(row.last_day, local_today(row.enrolled_at, row.timezone), today,
                                     limits_of[row.organization_id])
        if finding is None:
            continue
        if row.last_resolved is not None and (row.last_day is None or row.last_resolved > row.last_day):
            continue  # this silence was seen and closed by a clinician
        evidence = {**finding.evidence, "source": f"daily:{today.isoformat()}"}
        if row.live is not None:
            if row.live.local_day >= today:
                continue  # already counted today
            _repeat(row.live, finding.severity, finding.summary, evidence, today, now)
            repeated += 1
        else:
            new_alerts.append(dict(
                organization_id=row.organization_id, patient_id=row.id, rule=DISENGAGEMENT,
                severity=finding.severity, status=AlertStatus.open, summary=finding.summary,
                evidence=evidence, open_key=open_key(row.id, DISENGAGEMENT), first_triggered_at=now,
                last_triggered_at=now, trigger_count=1, local_day=today,
            ))
    db.session.flush()
    if new_alerts:
        nested = savepoint()
        try:
            # One executemany, no RETURNING: the pass needs no identities back.
            db.session.execute(insert(Alert), new_alerts)
        except IntegrityError:
            # Another pass got there first for some of them: take them one by one.
            nested.rollback()
            for alert in new_alerts:
                raise_alert(PatientKey(alert["patient_id"], alert["organization_id"]), DISENGAGEMENT,
                            alert["severity"], alert["summary"], alert["evidence"], alert["local_day"], now)
        else:
            nested.commit()
    return repeated + len(new_alerts)


class PatientKey(NamedTuple):
    """Enough of a patient to raise an alert for them."""

    id: int
    organization_id: int
