"""Treatment sessions the care team records, and how a patient's weeks add up.

Recording
    Clinicians on the patient's care team and admins of the organization
    record attendance. A patient never does: another patient is out of reach
    (404, like anyone else's), and their own record is refused for their role (403).
    A session is dated in the patient's local calendar and cannot be in the
    future of the patient's today. The list and the summary are read by
    anyone ``patient_in_reach`` lets through: the care team, admins of the
    organization and the patient themself.

Hours
    ``hours`` is the length of the session as far as this patient is
    concerned: for an attended session, the time they were there (a patient
    who left a 3-hour group after 2 hours is recorded as attended, 2 hours);
    for a missed or excused session, the length it was scheduled for, or 0
    when that is not known. An attended session has more than 0 hours.
    Only attended hours count toward the plan; missed and excused hours are
    reported beside them so the care team sees what was scheduled.

Weekly figures
    Weeks run Monday to Sunday in the patient's local calendar, oldest first,
    the last one being the patient's current week.

    * attendance rate = attended / (attended + missed). Excused sessions are
      left out on both sides: an excused absence (illness, a court date
      agreed in advance) is not disengagement, and counting it as attended
      would flatter the figure. None when nothing was attended or missed.
    * plan status compares hours attended with ``PLANNED_WEEKLY_HOURS`` of
      the level of care in effect on the week's Monday (``level_changes``,
      the step-up / step-down history; the first placement's level for a
      week before any change took effect): "below" under the minimum,
      "above" over the maximum, otherwise "within", bounds included.
      It is None for the current week (the week is not over: Tuesday's hours
      are not "below" a weekly plan) and for a week that started before the
      treatment start (a patient enrolled on Thursday had no full week to
      attend).

Rates and hours are left unrounded here; hours are quarter hours, so their
sums are exact. Rates are shares 0..1, unrounded; the API answers percentages.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import select

from models import (
    PLANNED_WEEKLY_HOURS,
    AttendanceRecord,
    AttendanceStatus,
    LevelOfCare,
    PatientProfile,
    Role,
    SessionKind,
    User,
    db,
)

from .access import patient_in_reach, require_role
from .alerts import alerts_after_attendance
from .days import local_today
from .errors import InvalidInput
from .goals import week_start_of, week_starts
from .paging import one_page

PlanStatus = Literal["below", "within", "above"]


class SessionLike(Protocol):
    """A session as the figures read it: an AttendanceRecord or an AttendanceRow (read-only, hence properties)."""

    @property
    def session_date(self) -> date: ...
    @property
    def status(self) -> AttendanceStatus: ...
    @property
    def hours(self) -> float: ...


class AttendanceRow(NamedTuple):
    """A session as the multi-patient loader returns it (no ORM identity)."""

    id: int
    patient_id: int
    session_date: date
    kind: SessionKind
    status: AttendanceStatus
    hours: float


@dataclass(frozen=True)
class WeekAttendance:
    """One week of sessions against the plan for the level of care."""

    week_start: date
    level_of_care: LevelOfCare
    attended: int
    missed: int
    excused: int
    hours_attended: float
    hours_missed: float
    hours_excused: float
    in_progress: bool  # the patient's current week
    plan_status: PlanStatus | None
    # attended / (attended + missed), 0..1; None when neither happened.
    attendance_rate: float | None = field(init=False)

    def __post_init__(self) -> None:
        counted = self.attended + self.missed
        object.__setattr__(self, "attendance_rate", self.attended / counted if counted else None)

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    @property
    def sessions(self) -> int:
        return self.attended + self.missed + self.excused

    @property
    def planned_hours_min(self) -> float:
        return PLANNED_WEEKLY_HOURS[self.level_of_care][0]

    @property
    def planned_hours_max(self) -> float:
        return PLANNED_WEEKLY_HOURS[self.level_of_care][1]


@dataclass(frozen=True)
class AttendanceSummary:
    """A patient's recent weeks of attendance, oldest first, and their totals."""

    patient_id: int
    weeks: list[WeekAttendance]

    @property
    def level_of_care(self) -> LevelOfCare:
        """The level of care of the current week."""
        return self.weeks[-1].level_of_care

    @property
    def attended(self) -> int:
        return sum(week.attended for week in self.weeks)

    @property
    def missed(self) -> int:
        return sum(week.missed for week in self.weeks)

    @property
    def excused(self) -> int:
        return sum(week.excused for week in self.weeks)

    @property
    def hours_attended(self) -> float:
        return sum(week.hours_attended for week in self.weeks)

    @property
    def attendance_rate(self) -> float | None:
        counted = self.attended + self.missed
        return self.attended / counted if counted else None


# --- pure ------------------------------------------------------------------

def plan_status(hours_attended: float, level_of_care: LevelOfCare) -> PlanStatus:
    """Place a finished week's attended hours against the plan for the level of care."""
    minimum, maximum = PLANNED_WEEKLY_HOURS[level_of_care]
    if hours_attended < minimum:
        return "below"
    if hours_attended > maximum:
        return "above"
    return "within"


def weekly_attendance(
    records: Iterable[SessionLike], today: date, weeks: int, level_of_care: LevelOfCare, *,
    treatment_start: date | None = None, level_changes: Sequence[tuple[date, LevelOfCare]] = (),
) -> list[WeekAttendance]:
    """Return the `weeks` weeks ending with today's, oldest first, each against its plan.

    level_of_care is the plan for every week unless level_changes (pairs of
    effective date and level, in the order they were made) say otherwise;
    sessions after today or outside the weeks are ignored.
    """
    starts = week_starts(today, weeks)
    counts = {start: dict.fromkeys(AttendanceStatus, 0) for start in starts}
    hours = {start: dict.fromkeys(AttendanceStatus, 0.0) for start in starts}
    for record in records:
        week = week_start_of(record.session_date)
        if week in counts and record.session_date <= today:
            status = AttendanceStatus(record.status)
            counts[week][status] += 1
            hours[week][status] += record.hours
    changes = sorted(level_changes, key=lambda change: change[0])
    current = starts[-1]
    result = []
    for start in starts:
        level = _level_on(start, level_of_care, changes)
        attended_hours = hours[start][AttendanceStatus.attended]
        assessed = start != current and (treatment_start is None or start >= treatment_start)
        result.append(WeekAttendance(
            week_start=start, level_of_care=level,
            attended=counts[start][AttendanceStatus.attended],
            missed=counts[start][AttendanceStatus.missed],
            excused=counts[start][AttendanceStatus.excused],
            hours_attended=attended_hours,
            hours_missed=hours[start][AttendanceStatus.missed],
            hours_excused=hours[start][AttendanceStatus.excused],
            in_progress=start == current,
            plan_status=plan_status(attended_hours, level) if assessed else None,
        ))
    return result


def _level_on(day: date, fallback: LevelOfCare, changes: list[tuple[date, LevelOfCare]]) -> LevelOfCare:
    if not changes:
        return fallback
    level = changes[0][1]  # before any change took effect: the first placement
    for effective, changed_to in changes:
        if effective > day:
            break
        level = changed_to
    return level


def recent_attendance(sessions: Iterable[SessionLike], today: date, days: int = 14) -> dict[str, Any]:
    """Count the sessions attended and missed in the last days local days, with their rate in percent.

    The one figure the caseload, the dashboard and the risk rules' attendance
    reason read, so they never disagree.
    """
    first = today - timedelta(days=days - 1)
    recent = [session for session in sessions if first <= session.session_date <= today]
    attended = sum(1 for session in recent if session.status.value == "attended")
    missed = sum(1 for session in recent if session.status.value == "missed")
    counted = attended + missed
    return {"attended": attended, "missed": missed,
            "rate": round(100 * attended / counted, 1) if counted else None}


# --- recording and reading ------------------------------------------------------

# Sessions are recorded as they happen; a year back covers any catch-up, and
# a date like 0001-01-01 is a typo (it once overflowed the alert rules' date math).
RECORDABLE_DAYS_BACK = 365

def record_attendance(actor: User, patient_id: int, entry: dict[str, Any], now: datetime) -> AttendanceRecord:
    """Record one session for a patient (care team or admin).

    entry holds session_date, kind, status, hours and an optional note.
    """
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    status = AttendanceStatus(entry["status"])
    errors = {}
    today = local_today(now, profile.timezone)
    if entry["session_date"] > today:
        errors["session_date"] = ["Is in the future for the patient's time zone."]
    elif entry["session_date"] < today - timedelta(days=RECORDABLE_DAYS_BACK):
        errors["session_date"] = [f"Is more than {RECORDABLE_DAYS_BACK} days back."]
    if status is AttendanceStatus.attended and entry["hours"] <= 0:
        errors["hours"] = ["An attended session lasts more than 0 hours."]
    if errors:
        raise InvalidInput("The session has invalid fields.", errors)
    note = (entry.get("note") or "").strip() or None
    record = AttendanceRecord(
        patient_id=profile.user_id, session_date=entry["session_date"],
        kind=SessionKind(entry["kind"]), status=status, hours=float(entry["hours"]), note=note,
        recorded_by_id=actor.id, recorded_at=now,
    )
    db.session.add(record)
    db.session.flush()
    alerts_after_attendance(profile.user_id, record, now)
    return record


def list_attendance(
    actor: User, patient_id: int, date_from: date | None, date_to: date | None, page: int, page_size: int,
) -> tuple[list[AttendanceRecord], int]:
    """Return one page of a patient's sessions, newest first, and the total."""
    profile = patient_in_reach(actor, patient_id)
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("from is after to.", {"from": ["Must not be after 'to'."]})
    conditions = [AttendanceRecord.patient_id == profile.user_id]
    if date_from:
        conditions.append(AttendanceRecord.session_date >= date_from)
    if date_to:
        conditions.append(AttendanceRecord.session_date <= date_to)
    query, total = one_page(
        select(AttendanceRecord).where(*conditions)
        .order_by(AttendanceRecord.session_date.desc(), AttendanceRecord.id.desc()),
        page, page_size,
    )
    return list(db.session.scalars(query)), total


def attendance_summary(actor: User, patient_id: int, weeks: int, now: datetime) -> AttendanceSummary:
    """Return the patient's last `weeks` weeks of attendance against their plan."""
    profile = patient_in_reach(actor, patient_id)
    today = local_today(now, profile.timezone)
    starts = week_starts(today, weeks)
    records = db.session.execute(
        select(AttendanceRecord.session_date, AttendanceRecord.status, AttendanceRecord.hours)
        .where(AttendanceRecord.patient_id == profile.user_id,
               AttendanceRecord.session_date >= starts[0], AttendanceRecord.session_date <= today)
    ).all()
    changes = [(change.effective_date, change.level_of_care) for change in profile.level_of_care_history]
    return AttendanceSummary(profile.user_id, weekly_attendance(
        records, today, weeks, profile.level_of_care,
        treatment_start=treatment_start(profile), level_changes=changes,
    ))


def treatment_start(profile: PatientProfile) -> date:
    """Return the patient's first local day in treatment: enrolment, or an earlier placement."""
    enrolled = local_today(profile.enrolled_at, profile.timezone)
    placements = [change.effective_date for change in profile.level_of_care_history]
    return min([enrolled, *placements])


def attendance_by_patient(patient_ids: Iterable[int], since: date) -> dict[int, list[AttendanceRow]]:
    """Return each patient's sessions dated since onwards, in one query.

    Every id asked for has an entry (an empty list when there are no
    sessions); each list is ordered by session date, then by when it was recorded.
    """
    ids = list(dict.fromkeys(patient_ids))
    sessions: dict[int, list[AttendanceRow]] = {patient_id: [] for patient_id in ids}
    if not ids:
        return sessions
    rows = db.session.connection().execute(  # Core: no ORM row processing for plain columns
        select(AttendanceRecord.id, AttendanceRecord.patient_id, AttendanceRecord.session_date,
               AttendanceRecord.kind, AttendanceRecord.status, AttendanceRecord.hours)
        .where(AttendanceRecord.patient_id.in_(ids), AttendanceRecord.session_date >= since)
        .order_by(AttendanceRecord.patient_id, AttendanceRecord.session_date, AttendanceRecord.id)
    )
    for row in rows:
        sessions[row.patient_id].append(AttendanceRow(*row))
    return sessions
