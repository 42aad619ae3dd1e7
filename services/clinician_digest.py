"""The clinician's weekly digest: how each patient of their caseload went through the week (pure).

The job loads each patient's check-ins and open alerts (CaseloadPatient);
this module judges and counts, and the template renders.

How a week went (patient_direction)
    Worse: use on more days than the week before, or a 7-day mean of craving
    up / mood down by DIRECTION_POINTS or more. Better: the opposite, where
    the week has at least MIN_CHECKINS_TO_COMPARE check-ins (silence is not
    improvement). Worse wins over better. Means are compared only with at
    least MIN_CHECKINS_TO_COMPARE check-ins in both weeks; with fewer and no
    use signal the direction is None ("not enough check-ins to compare").
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from .risk import RISK_RULES
from .summaries import iso_week
from .trends import LOWER_IS_BETTER, DayRecord, week_over_week

DIRECTION_POINTS = 1.0  # one step of the 0-10 scales
MIN_CHECKINS_TO_COMPARE = 3

CaseloadDirection = Literal["improved", "worsened", "steady"]


@dataclass(frozen=True)
class PatientWeek:
    """One caseload patient's week, for the digest's detail table (only when the organization allows)."""

    patient_id: int
    display_name: str
    direction: CaseloadDirection | None
    checkins: int
    days_used: int
    craving_mean: float | None
    mood_mean: float | None
    last_checkin: date | None
    went_quiet: bool
    open_alerts: int
    urgent_alerts: int


@dataclass(frozen=True)
class CaseloadPatient:
    """What the digest needs of one patient: loaded by the job, judged here."""

    patient_id: int
    display_name: str
    records: Sequence[DayRecord]
    enrolled_on: date  # local day of enrolment
    open_alerts: int = 0
    urgent_alerts: int = 0


@dataclass(frozen=True)
class ClinicianDigest:
    """A clinician's caseload at a glance for one week: counts, and rows only with detail on."""

    period: str
    week_start: date
    week_end: date
    patients: int
    improved: int
    worsened: int
    steady: int
    too_few_checkins: int
    went_quiet: int
    open_alerts: int
    urgent_alerts: int
    detail: tuple[PatientWeek, ...] | None  # None: counts only (minimum necessary)


def patient_direction(records: Iterable[DayRecord], week_end: date) -> CaseloadDirection | None:
    """Say whether a patient's week ending week_end went better or worse than the one before."""
    records = [r for r in records if r.day <= week_end]
    this = [r for r in records if week_end - timedelta(days=6) <= r.day]
    last = [r for r in records if week_end - timedelta(days=13) <= r.day <= week_end - timedelta(days=7)]
    used_this = sum(r.used_substance for r in this)
    used_last = sum(r.used_substance for r in last)
    enough = len(this) >= MIN_CHECKINS_TO_COMPARE and len(last) >= MIN_CHECKINS_TO_COMPARE
    worse = used_this > used_last
    better = used_this < used_last and len(this) >= MIN_CHECKINS_TO_COMPARE
    if enough:
        for metric in ("craving", "mood"):
            change = week_over_week(records, metric, week_end).value
            if change is None or abs(change) < DIRECTION_POINTS:
                continue
            if (change < 0) == (metric in LOWER_IS_BETTER):
                better = True
            else:
                worse = True
    if worse:
        return "worsened"
    if better:
        return "improved"
    return "steady" if enough else None


def went_quiet(records: Iterable[DayRecord], enrolled_on: date, week_end: date,
               quiet_days: int = int(RISK_RULES["quiet_days"])) -> bool:
    """Tell whether the patient had gone quiet by the week's end: no check-in for quiet_days days."""
    last = max((r.day for r in records if r.day <= week_end), default=None)
    since = last if last is not None else enrolled_on
    return (week_end - since).days >= quiet_days


def build_clinician_digest(week_start: date, caseload: Iterable[CaseloadPatient], *,
                           detail: bool = False) -> ClinicianDigest:
    """Count how the caseload's week went; list the patients only when detail is on."""
    week_end = week_start + timedelta(days=6)
    rows = []
    for patient in caseload:
        if patient.enrolled_on > week_end:
            continue  # enrolled after the week: nothing to say about it yet
        this = [r for r in patient.records if week_start <= r.day <= week_end]
        means = {metric: week_over_week(patient.records, metric, week_end).mean_this
                 for metric in ("craving", "mood")}
        rows.append(PatientWeek(
            patient.patient_id, patient.display_name, patient_direction(patient.records, week_end),
            len(this), sum(r.used_substance for r in this), means["craving"], means["mood"],
            max((r.day for r in patient.records if r.day <= week_end), default=None),
            went_quiet(patient.records, patient.enrolled_on, week_end),
            patient.open_alerts, patient.urgent_alerts,
        ))
    directions = Counter(row.direction for row in rows)
    ordered = sorted(rows, key=lambda row: (_DIGEST_ORDER[row.direction], -row.urgent_alerts,
                                            row.display_name.lower(), row.patient_id))
    return ClinicianDigest(
        period=iso_week(week_start), week_start=week_start, week_end=week_end, patients=len(rows),
        improved=directions["improved"], worsened=directions["worsened"], steady=directions["steady"],
        too_few_checkins=directions[None], went_quiet=sum(row.went_quiet for row in rows),
        open_alerts=sum(row.open_alerts for row in rows), urgent_alerts=sum(row.urgent_alerts for row in rows),
        detail=tuple(ordered) if detail else None,
    )


_DIGEST_ORDER = {"worsened": 0, None: 1, "steady": 2, "improved": 3}
