"""The alert rules: which rules there are, their thresholds, and the rules themselves (pure).


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

Raising what a rule finds is services.alerts; the check-in rules' hook is
services.checkin_alerts; the care team's inbox is services.alert_inbox.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from models import AlertSeverity, AttendanceStatus, Organization

from .risk import RISK_RULES
from .trends import SLOPE_DAYS, DayRecord, slope

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


def _recent(day: date, today: date, limits: Mapping[str, Any]) -> bool:
    return today - timedelta(days=limits["recent_days"] - 1) <= day <= today


# --- check-in rules (pure) ------------------------------------------------------------------------

def self_harm_rule(day: date, self_harm_thoughts: bool | None) -> Finding | None:
    """Self-harm thoughts reported in the check-in for day."""
    if not self_harm_thoughts:
        return None
    return Finding(SELF_HARM, f"Self-harm thoughts reported in the check-in for {_iso(day)}",
                   {"checkin_day": _iso(day)})


def substance_use_rule(record: DayRecord | None, today: date, limits: Mapping[str, Any],
                       substances: Sequence[str] = ()) -> Finding | None:
    """Use reported in a recent check-in (substances are codes from a closed list)."""
    if record is None or not record.used_substance or not _recent(record.day, today, limits):
        return None
    return Finding(SUBSTANCE_USE, f"Use reported in the check-in for {_iso(record.day)}",
                   {"checkin_day": _iso(record.day), "substances": sorted(substances)})


def craving_spike_rule(by_day: Mapping[date, DayRecord], day: date, today: date,
                       limits: Mapping[str, Any]) -> Finding | None:
    """Craving high on two days running around day, or far above the patient's own baseline."""
    record = by_day.get(day)
    if record is None or not _recent(day, today, limits):
        return None
    limit = limits["craving_spike"]
    for first, second in ((day - timedelta(days=1), day), (day, day + timedelta(days=1))):
        earlier, later = by_day.get(first), by_day.get(second)
        if earlier is not None and later is not None and earlier.craving >= limit and later.craving >= limit:
            return Finding(
                CRAVING_SPIKE,
                f"Craving {earlier.craving} and {later.craving} on {_iso(first)} and {_iso(second)}",
                {"kind": "two_days", "days": [_iso(first), _iso(second)],
                 "cravings": [earlier.craving, later.craving], "threshold": limit},
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


def mood_worsening_rule(records: Iterable[DayRecord], today: date, limits: Mapping[str, Any]) -> Finding | None:
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


def short_sleep_rule(by_day: Mapping[date, DayRecord], today: date, limits: Mapping[str, Any]) -> Finding | None:
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
                     today: date, limits: Mapping[str, Any], substances: Sequence[str] = (), *,
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
                       limits: Mapping[str, Any]) -> Finding | None:
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


def missed_sessions_rule(sessions: Sequence[SessionLike], record_id: int, limits: Mapping[str, Any]) -> Finding | None:
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
                        crisis: bool, item9: int | None, subscales: Mapping[str, Any] | None,
                        limits: Mapping[str, Any]) -> list[Finding]:
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

