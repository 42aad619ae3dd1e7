"""The level-of-care flag: whether to consider stepping a patient up, over data the caseload has loaded."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from models import AlertSeverity, AttendanceStatus

from .alert_rules import DEFAULT_THRESHOLDS
from .trends import DayRecord


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


# Read-only properties, so that the loaders' NamedTuples (AlertBrief, AttendanceRow) fit as well as the models.
class AlertLike(Protocol):
    @property
    def severity(self) -> AlertSeverity | str: ...
    @property
    def local_day(self) -> date: ...


class AttendanceLike(Protocol):
    @property
    def session_date(self) -> date: ...
    @property
    def status(self) -> AttendanceStatus | str: ...


def step_up_flag(records: Iterable[DayRecord], alerts: Iterable[AlertLike],
                 sessions: Iterable[AttendanceLike], today: date,
                 limits: Mapping[str, Any] | None = None) -> StepUpFlag:
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
        reasons.append(StepUpReason("urgent_alert", f"Urgent alert on {max(urgent_days).isoformat()}"))

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
                     limits: Mapping[str, Any]) -> float | None:
    statuses = [AttendanceStatus(s.status) for s in sessions if first <= s.session_date <= last]
    attended = statuses.count(AttendanceStatus.attended)
    counted = attended + statuses.count(AttendanceStatus.missed)
    if counted < limits["step_up_min_sessions"]:
        return None
    return 100.0 * attended / counted
