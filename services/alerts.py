"""Alerts: the rules over check-ins, questionnaires and attendance, and each alert's life.

Rules (keys: the DEFAULT_THRESHOLDS an organization may override)

=============== ======== ======================================================= ===================
rule            severity condition                                               keys
=============== ======== ======================================================= ===================
self_harm       urgent   a check-in reports self-harm thoughts (any day, late    none: a safety
                         entries too)                                            floor
phq9_item9      urgent   PHQ-9 item 9 above 0 (assessments.crisis_signal)        none: a safety floor
substance_use   high     a check-in dated within the last 7 days reports use     recent_days
craving_spike   high     craving >= 8 on two days running, one of them the       craving_spike,
                         check-in written, within the last 7 days; or that      recent_days,
                         check-in's craving >= mean + 2 SD of the patient's      craving_baseline_*,
                         own check-ins of the 28 days before it (needs >= 7 of   craving_sd_floor
                         them; population SD, floored at 1 point so a flat
                         baseline does not make a one-point rise a spike)
mood_worsening  medium   14-day least-squares mood slope <= -0.15 points/day     mood_slope
                         (about 2 points over two weeks: three times the trends
                         module's "worsening" bar, as an alert asks for action),
                         with >= 4 check-ins in the 14 days (trends' minimum)
short_sleep     medium   under 4 h sleep on 3 of the last 5 local days           short_sleep_*
disengagement   medium   no check-in for 3 local days, or none 3 days after      quiet_days
                         enrolment (daily_absence_pass)
missed_sessions high     2 missed sessions in a row; excused ones are left out   missed_in_a_row
                         (they neither count nor break a run, as in the rates)
phq9_worsening  medium   PHQ-9 total up >= 5 from the previous PHQ-9             phq9_rise
gad7_worsening  medium   GAD-7 total up >= 4 from the previous GAD-7             gad7_rise
bam_risk        high     BAM Risk factors subscale >= 12                         bam_risk
=============== ======== ======================================================= ===================

Overdose is not a rule: the check-in carries no overdose field. When it does,
add an urgent ``overdose`` rule beside ``self_harm``.

Thresholds shared with the caseload's risk level come from services.risk
(RISK_RULES), so an alert and a risk reason never disagree about "8" or "4 h".
An organization overrides keys in Organization.alert_thresholds; unknown keys
and non-numbers are ignored.

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

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol

from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from models import (
    Alert, AlertSeverity, AlertStatus, AssessmentResponse, AttendanceRecord, AttendanceStatus,
    CareTeamMember, Checkin, CheckinRevision, Organization, PatientProfile, Role, User, db, savepoint,
)
from models.caseload import lock_patient

from .access import patient_in_reach, require_role
from .days import local_today
from .errors import Conflict, NotFound
from .notices import notify_care_team
from .risk import RISK_RULES
from .trends import SLOPE_DAYS, DayRecord, slope
from .paging import one_page

# --- rules and thresholds -------------------------------------------------------------------------

SELF_HARM = "self_harm"
PHQ9_ITEM9 = "phq9_item9"
SUBSTANCE_USE = "substance_use"
CRAVING_SPIKE = "craving_spike"
MOOD_WORSENING = "mood_worsening"
SHORT_SLEEP = "short_sleep"
DISENGAGEMENT = "disengagement"
MISSED_SESSIONS = "missed_sessions"
PHQ9_WORSENING = "phq9_worsening"
GAD7_WORSENING = "gad7_worsening"
BAM_RISK = "bam_risk"

RULES: dict[str, AlertSeverity] = {
    SELF_HARM: AlertSeverity.urgent,
    PHQ9_ITEM9: AlertSeverity.urgent,
    SUBSTANCE_USE: AlertSeverity.high,
    CRAVING_SPIKE: AlertSeverity.high,
    MISSED_SESSIONS: AlertSeverity.high,
    BAM_RISK: AlertSeverity.high,
    MOOD_WORSENING: AlertSeverity.medium,
    SHORT_SLEEP: AlertSeverity.medium,
    DISENGAGEMENT: AlertSeverity.medium,
    PHQ9_WORSENING: AlertSeverity.medium,
    GAD7_WORSENING: AlertSeverity.medium,
}
SEVERITY_RANK = {AlertSeverity.medium: 1, AlertSeverity.high: 2, AlertSeverity.urgent: 3}

DEFAULT_THRESHOLDS: dict[str, int | float] = {
    "recent_days": RISK_RULES["use_days"],  # 7: use and craving rules look at this last week
    "craving_spike": RISK_RULES["craving_spike"],  # 8, on two days running
    "craving_baseline_sd": 2.0,
    "craving_baseline_days": 28,
    "craving_baseline_min_days": 7,
    "craving_sd_floor": 1.0,
    "mood_slope": -0.15,  # points per day over the 14-day window
    "short_sleep_hours": RISK_RULES["short_sleep_hours"],  # 4.0
    "short_sleep_nights": RISK_RULES["short_sleep_nights"],  # 3
    "short_sleep_of": RISK_RULES["short_sleep_of"],  # 5
    "quiet_days": RISK_RULES["quiet_days"],  # 3
    "missed_in_a_row": 2,
    "phq9_rise": 5,
    "gad7_rise": 4,
    "bam_risk": RISK_RULES["bam_risk"],  # 12
    # The level-of-care flag (step_up_flag).
    "step_up_window_days": 14,
    "step_up_use_days": 3,
    "step_up_attendance_drop": 25.0,  # percentage points, this window against the one before
    "step_up_attendance_floor": 50.0,  # percent
    "step_up_min_sessions": 2,  # attended + missed behind a rate before it counts
}


def thresholds(organization: Organization | None) -> dict[str, int | float]:
    """Return the organization's thresholds: the defaults, overridden key by key."""
    return thresholds_from(organization.alert_thresholds if organization is not None else None)


def thresholds_from(overrides: Mapping[str, Any] | None) -> dict[str, int | float]:
    """Return DEFAULT_THRESHOLDS with the valid overrides applied.

    An override must be a number of the default's kind (a whole number where
    the default is one: days, nights, points) and on the default's side of
    zero; anything else is ignored rather than let a typo in the settings
    break every check-in.
    """
    limits = dict(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in limits or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        default = DEFAULT_THRESHOLDS[key]
        if isinstance(default, int):
            if value != int(value):
                continue
            value = int(value)
        if (value < 0) == (default < 0) and value != 0:
            limits[key] = type(default)(value)
    return limits


@dataclass(frozen=True)
class Finding:
    """A rule that holds, with what the care team sees about it."""

    rule: str
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> AlertSeverity:
        return RULES[self.rule]


def _iso(day: date) -> str:
    return day.isoformat()


def _recent(day: date, today: date, limits: Mapping) -> bool:
    return today - timedelta(days=limits["recent_days"] - 1) <= day <= today


# --- check-in rules (pure) ------------------------------------------------------------------------

def self_harm_rule(day: date, self_harm_thoughts: bool | None) -> Finding | None:
    """Self-harm thoughts reported in the check-in for day."""
    if not self_harm_thoughts:
        return None
    return Finding(SELF_HARM, f"Self-harm thoughts reported in the check-in for {_iso(day)}",
                   {"checkin_day": _iso(day)})


def substance_use_rule(record: DayRecord | None, today: date, limits: Mapping,
                       substances: Sequence[str] = ()) -> Finding | None:
    """Use reported in a recent check-in (substances are codes from a closed list)."""
    if record is None or not record.used_substance or not _recent(record.day, today, limits):
        return None
    return Finding(SUBSTANCE_USE, f"Use reported in the check-in for {_iso(record.day)}",
                   {"checkin_day": _iso(record.day), "substances": sorted(substances)})


def craving_spike_rule(by_day: Mapping[date, DayRecord], day: date, today: date,
                       limits: Mapping) -> Finding | None:
    """Craving high on two days running around day, or far above the patient's own baseline."""
    record = by_day.get(day)
    if record is None or not _recent(day, today, limits):
        return None
    limit = limits["craving_spike"]
    for first, second in ((day - timedelta(days=1), day), (day, day + timedelta(days=1))):
        pair = [by_day.get(first), by_day.get(second)]
        if all(r is not None and r.craving >= limit for r in pair):
            return Finding(
                CRAVING_SPIKE,
                f"Craving {pair[0].craving} and {pair[1].craving} on {_iso(first)} and {_iso(second)}",
                {"kind": "two_days", "days": [_iso(first), _iso(second)],
                 "cravings": [pair[0].craving, pair[1].craving], "threshold": limit},
            )
    start = day - timedelta(days=limits["craving_baseline_days"])
    baseline = [r.craving for d, r in by_day.items() if start <= d < day]
    if len(baseline) < limits["craving_baseline_min_days"]:
        return None
    mean = statistics.fmean(baseline)
    spread = max(statistics.pstdev(baseline), limits["craving_sd_floor"])
    sds = (record.craving - mean) / spread
    if sds < limits["craving_baseline_sd"]:
        return None
    return Finding(
        CRAVING_SPIKE,
        f"Craving {record.craving} on {_iso(day)}, {sds:.1f} SD above the patient's "
        f"{limits['craving_baseline_days']}-day baseline (mean {mean:.1f})",
        {"kind": "baseline", "day": _iso(day), "craving": record.craving, "baseline_mean": round(mean, 2),
         "baseline_sd": round(spread, 2), "baseline_days": len(baseline), "sds_above": round(sds, 2)},
    )


def mood_worsening_rule(records: Iterable[DayRecord], today: date, limits: Mapping) -> Finding | None:
    """Mood clearly falling: the 14-day slope at or below the threshold (>= 4 check-ins)."""
    figure = slope(records, "mood", today)
    if figure.value is None or figure.value > limits["mood_slope"]:
        return None
    return Finding(
        MOOD_WORSENING,
        f"Mood falling {abs(figure.value):.2f} points a day over {SLOPE_DAYS} days ({figure.n} check-ins)",
        {"slope_per_day": figure.value, "days": SLOPE_DAYS, "checkins": figure.n,
         "threshold": limits["mood_slope"]},
    )


def short_sleep_rule(by_day: Mapping[date, DayRecord], today: date, limits: Mapping) -> Finding | None:
    """Very short sleep on several of the last nights."""
    nights = [today - timedelta(days=offset) for offset in range(limits["short_sleep_of"])]
    short = sorted(d for d in nights if d in by_day and by_day[d].sleep_hours < limits["short_sleep_hours"])
    if len(short) < limits["short_sleep_nights"]:
        return None
    return Finding(
        SHORT_SLEEP,
        f"Under {limits['short_sleep_hours']:g} h sleep on {len(short)} of the last "
        f"{limits['short_sleep_of']} nights",
        {"days": [_iso(d) for d in short], "hours": [by_day[d].sleep_hours for d in short],
         "threshold_hours": limits["short_sleep_hours"]},
    )


def checkin_findings(by_day: Mapping[date, DayRecord], day: date, self_harm_thoughts: bool | None,
                     today: date, limits: Mapping, substances: Sequence[str] = (), *,
                     mood_trend: bool = True) -> dict[str, Finding]:
    """Return every check-in rule that holds for the check-in of day, by rule.

    mood_trend=False leaves out mood_worsening, for a caller that knows the
    day lies outside the slope's window (so the day cannot change it).
    """
    findings = [
        self_harm_rule(day, self_harm_thoughts),
        substance_use_rule(by_day.get(day), today, limits, substances),
        craving_spike_rule(by_day, day, today, limits),
        mood_worsening_rule(by_day.values(), today, limits) if mood_trend else None,
        short_sleep_rule(by_day, today, limits),
    ]
    return {finding.rule: finding for finding in findings if finding is not None}


# --- other rules (pure) ---------------------------------------------------------------------------

def disengagement_rule(last_checkin: date | None, enrolled_on: date, today: date,
                       limits: Mapping) -> Finding | None:
    """No check-in for quiet_days local days, or none that long after enrolment."""
    quiet = limits["quiet_days"]
    if last_checkin is not None:
        silent = (today - last_checkin).days
        if silent < quiet:
            return None
        return Finding(DISENGAGEMENT, f"No check-in for {silent} days (last on {_iso(last_checkin)})",
                       {"days_without_checkin": silent, "last_checkin": _iso(last_checkin)})
    silent = (today - enrolled_on).days
    if silent < quiet:
        return None
    return Finding(DISENGAGEMENT, f"No check-in since enrolment {silent} days ago",
                   {"days_without_checkin": silent, "last_checkin": None, "enrolled_on": _iso(enrolled_on)})


class SessionLike(Protocol):
    id: int
    session_date: date
    status: AttendanceStatus


def missed_sessions_rule(sessions: Sequence[SessionLike], record_id: int, limits: Mapping) -> Finding | None:
    """The session record_id ends or extends a run of missed sessions long enough to alert.

    sessions are the patient's, in the order they happened; excused ones are skipped.
    """
    counted = [s for s in sessions if AttendanceStatus(s.status) is not AttendanceStatus.excused]
    position = next((i for i, s in enumerate(counted) if s.id == record_id), None)
    if position is None or AttendanceStatus(counted[position].status) is not AttendanceStatus.missed:
        return None
    first = last = position
    while first > 0 and AttendanceStatus(counted[first - 1].status) is AttendanceStatus.missed:
        first -= 1
    while last + 1 < len(counted) and AttendanceStatus(counted[last + 1].status) is AttendanceStatus.missed:
        last += 1
    run = counted[first:last + 1]
    if len(run) < limits["missed_in_a_row"]:
        return None
    return Finding(MISSED_SESSIONS,
                   f"{len(run)} missed sessions in a row (latest on {_iso(run[-1].session_date)})",
                   {"missed_in_a_row": len(run), "session_dates": [_iso(s.session_date) for s in run]})


def assessment_findings(instrument: str, *, local_day: date, total: int | None, previous_total: int | None,
                        crisis: bool, item9: int | None, subscales: Mapping | None,
                        limits: Mapping) -> list[Finding]:
    """Return the questionnaire rules a scored response meets."""
    day = _iso(local_day)
    findings = []
    if instrument == "phq9" and crisis:
        findings.append(Finding(PHQ9_ITEM9, f"PHQ-9 item 9 answered {item9} on {day}",
                                {"instrument": "phq9", "item9": item9, "local_day": day}))
    for code, rule, label, key in (("phq9", PHQ9_WORSENING, "PHQ-9", "phq9_rise"),
                                   ("gad7", GAD7_WORSENING, "GAD-7", "gad7_rise")):
        if instrument != code or total is None or previous_total is None:
            continue
        rise = total - previous_total
        if rise >= limits[key]:
            findings.append(Finding(rule, f"{label} up {rise} points to {total} on {day}",
                                    {"instrument": code, "total": total, "previous_total": previous_total,
                                     "rise": rise, "threshold": limits[key], "local_day": day}))
    if instrument == "bam":
        risk = ((subscales or {}).get("risk") or {}).get("score")
        if risk is not None and risk >= limits["bam_risk"]:
            findings.append(Finding(BAM_RISK, f"BAM risk factors {risk} on {day}",
                                    {"instrument": "bam", "risk": risk, "threshold": limits["bam_risk"],
                                     "local_day": day}))
    return findings


# --- raising --------------------------------------------------------------------------------------

class PatientRef(Protocol):
    id: int
    organization_id: int


def open_key(patient_id: int, rule: str) -> str:
    """Return the key that holds one open alert per (patient, rule)."""
    return f"{patient_id}:{rule}"


def raise_alert(patient: PatientRef, rule: str, severity: AlertSeverity | str, summary: str,
                evidence: dict, local_day: date, now: datetime) -> Alert:
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


def _repeat(alert: Alert, severity: AlertSeverity, summary: str, evidence: dict, local_day: date,
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
    latest: dict[str, tuple] = {}
    for rule, evidence, triggered_at in db.session.execute(
        select(Alert.rule, Alert.evidence, Alert.last_triggered_at)
        .where(Alert.patient_id == patient_id, Alert.rule.in_(rules)).order_by(Alert.id.desc())
    ):
        latest.setdefault(rule, (evidence or {}, triggered_at))
    return {rule for rule, (evidence, triggered_at) in latest.items()
            if evidence.get("source") == source or triggered_at > written_at}


# --- hooks: call each right after the write, before the commit ------------------------------------

CHECKIN_RULES = (SELF_HARM, SUBSTANCE_USE, CRAVING_SPIKE, MOOD_WORSENING, SHORT_SLEEP)
_FROM_REVISIONS = object()


def alerts_after_checkin(patient: User, checkin: Checkin, now: datetime, previous: Any = _FROM_REVISIONS,
                         organization: Organization | None = None) -> list[Alert]:
    """Raise what a newly written check-in (created or changed) makes true; flushes only.

    previous is the content of the version before (None for a new day);
    left out, it is read from the check-in's revisions.
    """
    if previous is _FROM_REVISIONS:
        previous = _previous_content(checkin)
    organization = organization or db.session.get(Organization, patient.organization_id)
    return CheckinRules(patient, organization, now, [checkin.day]).judge(checkin, previous)


# What the check-in rules read of a patient's history (as services.dashboards.checkin_histories), built once.
# On the table's columns: the ORM's result machinery would cost more than the read.
_HISTORY = Checkin.__table__.c
_RULES_HISTORY = select(
    _HISTORY.day, _HISTORY.craving, _HISTORY.mood, _HISTORY.sleep_hours, _HISTORY.used_substance,
    _HISTORY.coping_skills, _HISTORY.late,
).where(_HISTORY.patient_id == bindparam("patient_id"), _HISTORY.day >= bindparam("since"))


class CheckinRules:
    """The check-in rules over one request's writes of one patient's days.

    The history the rules read is loaded once, then kept current in memory as
    each written day is judged, in the order written: every day meets the
    history it would have met had the days come one request at a time, and
    a sync of many days costs one load instead of one per day. Likewise the
    rules' latest alerts (which sources they took into account) are read once
    and followed as this request raises them.
    """

    def __init__(self, patient: User, organization: Organization, now: datetime, days: Iterable[date]):
        self.patient = patient
        self.now = now
        self.today = local_today(now, patient.patient_profile.timezone)
        self.limits = thresholds(organization)
        self._since = min(self.today - timedelta(days=SLOPE_DAYS),
                          min(days) - timedelta(days=self.limits["craving_baseline_days"] + 1))
        self._by_day: dict[date, DayRecord] | None = None
        self._latest: dict[str, tuple[dict, datetime]] | None = None

    def load_history(self) -> None:
        """Read the check-ins the rules look at (before the writes, for a batch written in one go)."""
        self._by_day = {
            row.day: DayRecord(day=row.day, craving=row.craving, mood=row.mood, sleep_hours=row.sleep_hours,
                               used_substance=row.used_substance, coping_skills=tuple(row.coping_skills or ()),
                               late=row.late)
            for row in db.session.execute(_RULES_HISTORY, {"patient_id": self.patient.id, "since": self._since})
        }

    def judge(self, checkin: Checkin, previous: dict | None) -> list[Alert]:
        """Raise what the written check-in makes true that its previous version (None: none) did not."""
        if self._by_day is None:
            self.load_history()
        after = self._by_day
        # float(): as a read would give it back (SQLite's RETURNING may hand back 3 for a stored 3.0).
        after[checkin.day] = DayRecord(
            day=checkin.day, craving=checkin.craving, mood=checkin.mood, sleep_hours=float(checkin.sleep_hours),
            used_substance=checkin.used_substance, coping_skills=tuple(checkin.coping_skills or ()),
            late=checkin.late,
        )
        # A day before the slope's window leaves the mood trend as it was: it cannot raise it.
        mood_trend = checkin.day > self.today - timedelta(days=SLOPE_DAYS)
        holds = checkin_findings(after, checkin.day, checkin.self_harm_thoughts, self.today, self.limits,
                                 checkin.substances or (), mood_trend=mood_trend)
        if not holds:
            return []  # most days: nothing holds, so nothing is new, whatever held before
        before = dict(after)
        if previous is None:
            before.pop(checkin.day, None)
        else:
            before[checkin.day] = DayRecord(
                day=checkin.day, craving=previous["craving"], mood=previous["mood"],
                sleep_hours=previous["sleep_hours"], used_substance=previous["used_substance"],
                coping_skills=tuple(previous.get("coping_skills") or ()), late=checkin.late,
            )
        held = checkin_findings(before, checkin.day, (previous or {}).get("self_harm_thoughts"), self.today,
                                self.limits, mood_trend=mood_trend)
        new = [finding for rule, finding in holds.items() if rule not in held]
        if not new:
            return []
        source = f"checkin:{checkin.id}:v{checkin.version}"
        seen = self._rules_seen(source, checkin.updated_at)
        raised = []
        for finding in new:
            if finding.rule in seen:
                continue
            evidence = {**finding.evidence, "source": source}
            raised.append(raise_alert(self.patient, finding.rule, finding.severity, finding.summary, evidence,
                                      self.today, self.now))
            self._latest[finding.rule] = (evidence, self.now)
        return raised

    def _rules_seen(self, source: str, written_at: datetime) -> set[str]:
        # As _rules_seen, over every check-in rule at once.
        if self._latest is None:
            self._latest = {}
            for rule, evidence, triggered_at in db.session.execute(
                select(Alert.rule, Alert.evidence, Alert.last_triggered_at)
                .where(Alert.patient_id == self.patient.id, Alert.rule.in_(CHECKIN_RULES))
                .order_by(Alert.id.desc())
            ):
                self._latest.setdefault(rule, (evidence or {}, triggered_at))
        return {rule for rule, (evidence, triggered_at) in self._latest.items()
                if evidence.get("source") == source or triggered_at > written_at}


def _previous_content(checkin: Checkin) -> dict | None:
    if checkin.version <= 1:
        return None
    return db.session.scalar(
        select(CheckinRevision.content).where(
            CheckinRevision.checkin_id == checkin.id, CheckinRevision.version == checkin.version - 1,
        )
    )


def alerts_after_assessment(patient: User, response: AssessmentResponse, now: datetime) -> list[Alert]:
    """Raise what a newly stored questionnaire response meets; flushes only."""
    from .assessments import crisis_signal, score_history

    today = local_today(now, patient.patient_profile.timezone)
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
    patient = db.session.get(User, patient_id)
    today = local_today(now, patient.patient_profile.timezone)
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
        evidence = {**finding.evidence, "source": f"daily:{_iso(today)}"}
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


# --- the crisis path ------------------------------------------------------------------------------

def crisis_resources(organization: Organization) -> dict[str, Any]:
    """Return where a patient in crisis can get help now: 988 and the program's own line.

    One source for both crisis paths (check-in and questionnaire):
    services.assessments.crisis_resources.
    """
    from .assessments import crisis_resources as resources

    return resources(organization)


def checkin_crisis_resources(patient: User, checkin: Checkin,
                             organization: Organization | None = None) -> dict[str, Any] | None:
    """Return crisis resources for the check-in's answer when it reports self-harm thoughts, else None."""
    if not checkin.self_harm_thoughts:
        return None
    return crisis_resources(organization or db.session.get(Organization, patient.organization_id))


# --- the care team's side -------------------------------------------------------------------------

class AlertNotOpen(Conflict):
    """Only an open alert can be acknowledged."""


class AlertAlreadyResolved(Conflict):
    """A resolved alert stays resolved; a new trigger opens a new alert."""


ACTIVE_STATUSES = (AlertStatus.open, AlertStatus.acknowledged)


def list_alerts(actor: User, *, status: AlertStatus | None = None, severity: AlertSeverity | None = None,
                patient_id: int | None = None, page: int = 1, page_size: int = 50) -> tuple[list[dict], int]:
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


def acknowledge_alert(actor: User, alert_id: int, note: str | None, now: datetime) -> dict:
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


def resolve_alert(actor: User, alert_id: int, note: str | None, now: datetime) -> dict:
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


@dataclass(frozen=True)
class StepUpReason:
    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class StepUpFlag:
    """Whether to consider a higher level of care, and why: decision support, never a decision."""

    reasons: tuple[StepUpReason, ...] = ()

    @property
    def consider_step_up(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"consider_step_up": self.consider_step_up, "reasons": [r.to_dict() for r in self.reasons]}


class AlertLike(Protocol):
    severity: AlertSeverity | str
    local_day: date


class AttendanceLike(Protocol):
    session_date: date
    status: AttendanceStatus | str


def step_up_flag(records: Iterable[DayRecord], alerts: Iterable[AlertLike],
                 sessions: Iterable[AttendanceLike], today: date,
                 limits: Mapping | None = None) -> StepUpFlag:
    """Return the level-of-care flag over data the caseload has loaded already.

    Reasons: use on >= 3 of the last 14 days; an urgent alert triggered in
    the last 14 days (whatever its status now); attendance falling, i.e. the
    rate (attended / (attended + missed)) of the last 14 days under 50 %, or
    25 points or more below the 14 days before; a rate needs at least 2
    sessions behind it.
    """
    limits = limits or DEFAULT_THRESHOLDS
    window = int(limits["step_up_window_days"])
    start = today - timedelta(days=window - 1)
    reasons = []

    use_days = [r.day for r in records if start <= r.day <= today and r.used_substance]
    if len(use_days) >= limits["step_up_use_days"]:
        reasons.append(StepUpReason("repeated_use",
                                    f"Use reported on {len(use_days)} of the last {window} days"))

    urgent_days = [a.local_day for a in alerts
                   if AlertSeverity(a.severity) is AlertSeverity.urgent and start <= a.local_day <= today]
    if urgent_days:
        reasons.append(StepUpReason("urgent_alert", f"Urgent alert on {_iso(max(urgent_days))}"))

    sessions = list(sessions)
    this = _attendance_rate(sessions, start, today, limits)
    last = _attendance_rate(sessions, start - timedelta(days=window), start - timedelta(days=1), limits)
    if this is not None and this < limits["step_up_attendance_floor"]:
        reasons.append(StepUpReason("falling_attendance",
                                    f"Attended {this:.0f} % of sessions in the last {window} days"))
    elif this is not None and last is not None and last - this >= limits["step_up_attendance_drop"]:
        reasons.append(StepUpReason("falling_attendance",
                                    f"Attendance fell from {last:.0f} % to {this:.0f} % over {window} days"))
    return StepUpFlag(tuple(reasons))


def _attendance_rate(sessions: list[AttendanceLike], first: date, last: date,
                     limits: Mapping) -> float | None:
    statuses = [AttendanceStatus(s.status) for s in sessions if first <= s.session_date <= last]
    attended = statuses.count(AttendanceStatus.attended)
    counted = attended + statuses.count(AttendanceStatus.missed)
    if counted < limits["step_up_min_sessions"]:
        return None
    return 100.0 * attended / counted
