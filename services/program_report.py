"""A program's outcomes for its directors: enrolment, retention, attendance, PDA and score change."""
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select

from models import CareTeamMember, PatientProfile, Program, Role, User, db

from .access import require_role
from .assessment_history import latest_scores
from .attendance import attendance_by_patient
from .days import local_today
from .errors import NotFound
from .history import checkin_histories, enrolled_on, history_of
from .trends import DayRecord, abstinence

Figure = TypeVar("Figure")

# Small-cell suppression: no figure of a program report describes fewer
# patients than this, so that a reader who knows some of the program's
# patients cannot work out another's numbers from it.
REPORT_MIN_GROUP = 5


def program_report(actor: User, program_id: int, now: datetime,
                   min_group: int = REPORT_MIN_GROUP) -> dict[str, Any]:
    """Return a program's outcomes: enrolment, retention, attendance, PDA and score change.

    An admin of the organization, or a clinician on the care team of at least
    one of the program's patients, may read it; for anyone else it does not exist.
    A figure over fewer than min_group patients is None, and suppressed says why.
    """
    require_role(actor, Role.clinician, Role.admin)
    program = db.session.get(Program, program_id)
    if program is None or program.organization_id != actor.organization_id:
        raise NotFound("No such program.")
    patients = db.session.execute(
        select(PatientProfile, User).join(User, User.id == PatientProfile.user_id)
        .where(PatientProfile.program_id == program_id)
    ).all()
    ids = [profile.user_id for profile, _user in patients]
    if actor.role is Role.clinician and not db.session.scalar(
        select(CareTeamMember.patient_id).where(
            CareTeamMember.clinician_id == actor.id, CareTeamMember.patient_id.in_(ids or [-1])
        ).limit(1)
    ):
        raise NotFound("No such program.")

    histories = checkin_histories(ids)
    scores = latest_scores(ids)
    earliest = min((local_today(now, p.timezone) for p, _u in patients), default=None)
    sessions = attendance_by_patient(ids, earliest - timedelta(days=29)) if earliest else {}
    active = 0
    retention = {4: [0, 0], 8: [0, 0]}
    pda_first: list[float] = []
    pda_latest: list[float] = []
    attended = missed = attending = 0
    score_change: dict[str, list[float]] = {"phq9": [], "gad7": []}
    for profile, user in patients:
        today = local_today(now, profile.timezone)
        start = enrolled_on(profile)
        records = history_of(histories, user.id).records
        days = {r.day for r in records}
        if any(today - timedelta(days=13) <= d <= today for d in days):
            active += 1
        for weeks, tally in retention.items():
            if (today - start).days >= 7 * weeks:
                tally[0] += 1
                tally[1] += any(d >= start + timedelta(weeks=weeks) for d in days)
        if (today - start).days >= 30:  # the first 30 days are over
            latest_30 = abstinence(records, today, start).pda_for(30)
            if latest_30.days_in_window:
                pda_first.append(_abstinent_share(records, start, 30))
                pda_latest.append(latest_30.days_abstinent / latest_30.days_in_window)
        counted = [session.status.value for session in sessions.get(user.id, [])
                   if today - timedelta(days=29) <= session.session_date <= today
                   and session.status.value in ("attended", "missed")]
        attended += counted.count("attended")
        missed += counted.count("missed")
        attending += bool(counted)
        for code, changes in score_change.items():
            latest = scores.get(user.id, {}).get(code)
            if latest and latest["change"]["from_first"] is not None:
                changes.append(latest["change"]["from_first"])
    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    # Shares are averaged unrounded and rounded once, at the output.
    def mean_percent(shares: list[float]) -> float | None:
        return round(100 * sum(shares) / len(shares), 1) if shares else None

    cells = _SmallCells(min_group)
    # Group sizes (enrolled, eligible, patients) come from enrolment and are
    # shown; what they did is shown only over enough of them. No figure here
    # is a subgroup of another shown over the same patients, so counts and
    # their complements are the only differences to guard.
    return {
        "program": program,
        "patients_enrolled": len(patients),
        "active_patients": cells.count("active_patients", active, len(patients), active),
        "retention": {f"{weeks}_weeks": {
            "eligible": eligible,
            "retained": cells.count(f"retention.{weeks}_weeks.retained", retained, eligible, retained),
            "percent": cells.count(f"retention.{weeks}_weeks.percent",
                                   round(100 * retained / eligible, 1) if eligible else None, eligible, retained),
        } for weeks, (eligible, retained) in retention.items()},
        "attendance_30": {
            "attended": cells.over("attendance_30.attended", attended, attending),
            "missed": cells.over("attendance_30.missed", missed, attending),
            "rate": cells.over("attendance_30.rate",
                               round(100 * attended / (attended + missed), 1) if attended + missed else None,
                               attending),
            "patients": attending,
        },
        "pda": {"first_30_days": cells.over("pda.first_30_days", mean_percent(pda_first), len(pda_first)),
                "latest_30_days": cells.over("pda.latest_30_days", mean_percent(pda_latest), len(pda_first)),
                "patients": len(pda_first)},
        "score_change": {code: {"mean_from_first": cells.over(f"score_change.{code}.mean_from_first",
                                                              mean(values), len(values)),
                                "patients": len(values)}
                         for code, values in score_change.items()},
        "minimum_group": min_group,
        "suppressed": cells.reasons,
    }


class _SmallCells:
    """Hold back the figures of a report that describe too few patients, saying why."""

    def __init__(self, min_group: int) -> None:
        self.min_group = min_group
        self.reasons: dict[str, str] = {}
        self._too_few = f"Computed over fewer than {min_group} patients."
        self._reveals_few = (f"Would reveal a group of fewer than {min_group} patients "
                             "(those it counts, or the rest of its total).")

    def over(self, figure: str, value: Figure, patients: int) -> Figure | None:
        """Return value, a figure computed over patients, or None when they are too few."""
        if patients < self.min_group:
            self.reasons[figure] = self._too_few
            return None
        return value

    def count(self, figure: str, value: Figure, total: int, having: int) -> Figure | None:
        """Return value, a figure telling how many (having) of total patients have something, or None.

        Held back when total is too small, and when the patients having it
        or those not having it are too few: the total is shown, so either
        group follows from the other.
        """
        if total < self.min_group:
            self.reasons[figure] = self._too_few
            return None
        if min(having, total - having) < self.min_group:
            self.reasons[figure] = self._reveals_few
            return None
        return value


def _abstinent_share(records: list[DayRecord], start: date, days: int) -> float:
    """Return the share of the days start .. start + days - 1 with an abstinent check-in.

    A closed window in the past: every day of it is over, so unlike "the
    last N days" (services.trends), its last day counts with or without a
    check-in, and a missing day counts as use.
    """
    end = start + timedelta(days=days - 1)
    return sum(1 for r in records if start <= r.day <= end and not r.used_substance) / days
