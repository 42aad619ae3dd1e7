"""What the care team comes for: trends, the caseload and the patient dashboard.

Every loader here reads many patients in a fixed number of statements, so a
caseload of 500 costs the same number of round trips as one of 5.
"""
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from itertools import chain

from sqlalchemy import Date, Integer, String, Text, bindparam, cast, exists, func, not_, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from models import Checkin, PatientProfile, Program, Role, User, db

from .access import patient_in_reach, require_role
from .days import local_today
from .errors import NotAllowed
from .trends import (
    SLOPE_DAYS, DayRecord, EarlierCheckins, abstinence, adherence, current_streak, last_checkin,
    patient_trends, rolling_mean, slope,
)
from .risk import RISK_RULES, assess_risk


@dataclass(frozen=True)
class CheckinHistory:
    """One patient's check-ins as the statistics need them."""

    records: list[DayRecord]
    self_harm_days: list[date]
    # With recent_checkins: the check-ins before the loaded window, summarised.
    earlier: EarlierCheckins | None = None


def checkin_histories(patient_ids: list[int], since: date | None = None) -> dict[int, CheckinHistory]:
    """Load the check-ins of many patients in one statement."""
    histories: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    if not patient_ids:
        return {}
    query = select(
        Checkin.patient_id, Checkin.day, Checkin.craving, Checkin.mood, Checkin.sleep_hours,
        Checkin.used_substance, Checkin.coping_skills, Checkin.late, Checkin.self_harm_thoughts,
    ).where(Checkin.patient_id.in_(patient_ids))
    if since is not None:
        query = query.where(Checkin.day >= since)
    for row in db.session.execute(query):
        records, harm = histories[row.patient_id]
        records.append(DayRecord(
            day=row.day, craving=row.craving, mood=row.mood, sleep_hours=row.sleep_hours,
            used_substance=row.used_substance, coping_skills=tuple(row.coping_skills or ()), late=row.late,
        ))
        if row.self_harm_thoughts:
            harm.append(row.day)
    return {pid: CheckinHistory(records, harm) for pid, (records, harm) in histories.items()}


class _day_before(FunctionElement):
    """The calendar day before a DATE column, in the database's own arithmetic."""

    type = Date()
    name = "day_before"
    inherit_cache = True


@compiles(_day_before)
def _day_before_default(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)} - 1)"  # PostgreSQL: date - integer


@compiles(_day_before, "sqlite")
def _day_before_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)}, '-1 day')"  # dates are ISO text


class _day_number(FunctionElement):
    """A DATE as a whole number of days, for runs of consecutive days."""

    type = Integer()
    name = "day_number"
    inherit_cache = True


@compiles(_day_number)
def _day_number_default(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)} - DATE '2000-01-01')"


@compiles(_day_number, "sqlite")
def _day_number_sqlite(element, compiler, **kw):
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) AS INTEGER)"


def recent_checkins(patient_ids: list[int], since: date, *, coping_skills: bool = False,
                    longest_run: bool = False) -> dict[int, CheckinHistory]:
    """Load many patients' check-ins from since on, and a summary of the older ones.

    Every id asked for is a key. The older check-ins come back as an
    EarlierCheckins (first and last day, the abstinent run up to since - 1
    and, with longest_run, the longest run before since), so the streaks and
    "days since the last check-in" are those of the whole history while
    only the window is read row by row. Two statements; coping_skills
    only when asked for.
    """
    if not patient_ids:
        return {}
    ids = list(dict.fromkeys(patient_ids))
    result = db.session.connection().execute(_recent_statement(coping_skills), {"ids": ids, "since": since})
    # Fetched a hundred at a time: in bulk, yet no row outlives its turn (a
    # batch's rows all held at once cost more in garbage collection than they save).
    rows = chain.from_iterable(result.partitions(100))
    loaded: dict[int, tuple[list, list]] = {patient_id: ([], []) for patient_id in ids}
    skill_lists: dict[str | None, tuple[str, ...]] = {None: ()}
    days = _Days()
    for row in rows:
        records, harm = loaded[row[0]]
        day = days[row[1]]
        skills = ()
        if coping_skills:
            skills = skill_lists.get(row[8])
            if skills is None:
                skills = skill_lists[row[8]] = tuple(json.loads(row[8]) or ())
        records.append(DayRecord(day, row[2], row[3], row[4], row[5], skills, row[6]))
        if row[7]:
            harm.append(day)
    earlier = _earlier_checkins(ids, since, longest_run)
    return {patient_id: CheckinHistory(records, harm, earlier.get(patient_id, EarlierCheckins(since)))
            for patient_id, (records, harm) in loaded.items()}


@cache
def _recent_statement(coping_skills: bool):
    """Build once the statement recent_checkins runs, with :ids and :since."""
    # The day as the driver gives it (_Days): SQLAlchemy's SQLite DATE parses
    # every value with a regular expression, about a microsecond a row.
    columns = [Checkin.patient_id, type_coerce(Checkin.day, String), Checkin.craving, Checkin.mood,
               Checkin.sleep_hours, Checkin.used_substance, Checkin.late, Checkin.self_harm_thoughts]
    if coping_skills:
        # As the JSON text: most days repeat a handful of skill lists, each decoded once.
        columns.append(cast(Checkin.coping_skills, Text))
    return (select(*columns)
            .where(Checkin.patient_id.in_(bindparam("ids", expanding=True)),
                   Checkin.day >= bindparam("since", type_=Date))
            .order_by(Checkin.patient_id, Checkin.day))


class _Days(dict):
    """A day as the driver returns it (an ISO string on SQLite) -> a date, each distinct one parsed once."""

    def __missing__(self, value: str | date) -> date:
        day = self[value] = date.fromisoformat(value) if isinstance(value, str) else value
        return day


def weekly_histories(patient_ids: list[int], earliest_week_start: date) -> dict[int, CheckinHistory]:
    """Load what the weekly summaries of weeks starting on or after earliest_week_start read.

    The check-ins of the SUMMARY_DAYS to the earliest week's end, with the
    older ones summarised for the streaks (build_weekly_summary's earlier).
    """
    from .summaries import SUMMARY_DAYS

    since = earliest_week_start + timedelta(days=6 - (SUMMARY_DAYS - 1))
    return recent_checkins(patient_ids, since, coping_skills=True, longest_run=True)


_OLDER = Checkin.__table__.alias("older")
_PREVIOUS = Checkin.__table__.alias("previous")


def _earlier_checkins(ids: list[int], before: date, longest_run: bool) -> dict[int, EarlierCheckins]:
    """Summarise each patient's check-ins dated before before (see recent_checkins)."""
    connection = db.session.connection()
    parameters = {"ids": ids, "before": before}
    if longest_run and connection.dialect.name == "sqlite":
        # SQLite's window functions cost about 1 us a row, as much as reading
        # the row: there the summary comes from each patient's list of days.
        day_numbers = _DayNumbers()
        return {row[0]: _earlier_from_days(before, row[1], row[2], day_numbers)
                for row in connection.execute(_day_lists_statement(), parameters)}
    earlier = {}
    for row in connection.execute(_earlier_statement(longest_run), {**parameters, "eve": before - timedelta(days=1)}):
        patient_id, last, first, start, is_open = row[:5]
        run = (before - start).days if is_open and start is not None else 0
        earlier[patient_id] = EarlierCheckins(before, first, last, run, (row[5] or 0) if longest_run else None)
    return earlier


@cache
def _earlier_statement(longest_run: bool):
    """Build once the statement _earlier_checkins runs for every batch, with :ids, :before and :eve."""
    older, previous, profile = _OLDER, _PREVIOUS, PatientProfile.__table__
    before = bindparam("before", type_=Date)
    last_day = select(older.c.day).where(older.c.patient_id == profile.c.user_id, older.c.day < before)
    # The start of the abstinent run that reaches before - 1: the latest
    # abstinent day before it whose previous day is not an abstinent check-in.
    # Read newest first, it stops at the run's start: bounded by the run, not the history.
    run_start = (
        select(older.c.day)
        .where(older.c.patient_id == profile.c.user_id, older.c.day < before, not_(older.c.used_substance),
               ~exists().where(previous.c.patient_id == older.c.patient_id,
                               previous.c.day == _day_before(older.c.day), not_(previous.c.used_substance)))
        .order_by(older.c.day.desc()).limit(1)
    )
    run_open = exists().where(older.c.patient_id == profile.c.user_id,
                              older.c.day == bindparam("eve", type_=Date), not_(older.c.used_substance))
    columns = [
        profile.c.user_id,
        last_day.order_by(older.c.day.desc()).limit(1).scalar_subquery().label("last_day"),
        last_day.order_by(older.c.day).limit(1).scalar_subquery().label("first_day"),
        run_start.scalar_subquery().label("run_start"),
        run_open.label("run_open"),
    ]
    ids = bindparam("ids", expanding=True)
    summary = select(*columns).where(profile.c.user_id.in_(ids))
    if longest_run:  # in the same statement: the job runs it once per small batch
        longest = _longest_runs(ids, before)
        summary = summary.add_columns(longest.c.longest).outerjoin(
            longest, longest.c.patient_id == profile.c.user_id)
    return summary


def _longest_runs(ids, before):
    """Return a subquery of (patient_id, longest): the longest run of abstinent days before before.

    Runs of consecutive days are the islands of day number minus row number.
    A patient without an abstinent check-in before before has no row.
    """
    numbered = select(
        Checkin.patient_id,
        (_day_number(Checkin.day)
         - func.row_number().over(partition_by=Checkin.patient_id, order_by=Checkin.day)).label("island"),
    ).where(Checkin.patient_id.in_(ids), Checkin.day < before, not_(Checkin.used_substance)).subquery("numbered")
    runs = select(numbered.c.patient_id, func.count().label("length")).group_by(
        numbered.c.patient_id, numbered.c.island).subquery("runs")
    return select(runs.c.patient_id, func.max(runs.c.length).label("longest")).group_by(
        runs.c.patient_id).subquery("longest_runs")


@cache
def _day_lists_statement():
    """Build once each patient's check-in days and use days before :before, as SQLite lists them."""
    older, profile = _OLDER, PatientProfile.__table__
    # Every day from the (patient_id, day) index alone, the use days from
    # their partial index (ix_checkins_use_days): no row is read.
    days = select(func.group_concat(older.c.day)).where(
        older.c.patient_id == profile.c.user_id, older.c.day < bindparam("before", type_=Date))
    return select(profile.c.user_id, days.scalar_subquery(),
                  days.where(older.c.used_substance).scalar_subquery()
                  ).where(profile.c.user_id.in_(bindparam("ids", expanding=True)))


def _earlier_from_days(before: date, days: str | None, use_days: str | None,
                       day_numbers: "_DayNumbers") -> EarlierCheckins:
    """Summarise the check-ins before before from comma-separated ISO days (SQLite's group_concat).

    days holds every check-in day, use_days those with use; either in any order.
    """
    if not days:
        return EarlierCheckins(before, longest_run=0)
    numbers = sorted(map(day_numbers.__getitem__, days.split(",")))
    use = set(map(day_numbers.__getitem__, use_days.split(","))) if use_days else ()
    longest = length = 0
    previous = None  # the abstinent day before, in the run being counted
    for number in numbers:
        if number in use:
            previous = None
            continue
        length = length + 1 if number - 1 == previous else 1
        if length > longest:
            longest = length
        previous = number
    run = length if previous == before.toordinal() - 1 else 0  # the last run, if it reaches before - 1
    return EarlierCheckins(before, date.fromordinal(numbers[0]), date.fromordinal(numbers[-1]), run, longest)


class _DayNumbers(dict):
    """ISO day -> day number, each distinct day parsed once (a batch's patients share their days)."""

    def __missing__(self, iso_day: str) -> int:
        number = self[iso_day] = date.fromisoformat(iso_day).toordinal()
        return number


def _history(histories, patient_id) -> CheckinHistory:
    return histories.get(patient_id) or CheckinHistory([], [])


def _enrolled_on(profile: PatientProfile) -> date:
    """The patient's local day of enrolment: no app to check in with before it."""
    return local_today(profile.enrolled_at, profile.timezone)


def trends_for(actor: User, patient_id: int, now: datetime, window: int) -> dict:
    """Return a patient's trends (any actor who reaches the patient)."""
    profile = patient_in_reach(actor, patient_id)
    today = local_today(now, profile.timezone)
    history = _history(checkin_histories([profile.user_id]), profile.user_id)
    return patient_trends(history.records, today, profile.recovery_start_date, window,
                          in_treatment_since=_enrolled_on(profile)).to_dict()


# --- the caseload -------------------------------------------------------------

def _metric_summary(records, metric, today, earlier=None) -> dict:
    mean = rolling_mean(records, metric, today, 7, earlier=earlier)
    trend = slope(records, metric, today, earlier=earlier)
    return {"value": mean.value, "n": mean.n, "direction": trend.direction, "slope": trend.value,
            "slope_n": trend.n}


def _attendance_14(rows, today) -> dict:
    recent = [r for r in rows if today - timedelta(days=13) <= r.session_date <= today]
    attended = sum(1 for r in recent if r.status.value == "attended")
    missed = sum(1 for r in recent if r.status.value == "missed")
    counted = attended + missed
    return {"attended": attended, "missed": missed,
            "rate": round(100 * attended / counted, 1) if counted else None}


def _score_brief(summary: dict | None) -> dict | None:
    if summary is None:
        return None
    return {
        "total": summary["total"], "band": summary["band"], "item9": summary["item9"],
        "subscales": summary["subscales"], "local_day": summary["local_day"],
        "from_previous": summary["change"]["from_previous"],
        "reliable_change": summary["change"]["reliable_change_previous"],
    }


def caseload_window_days(limits) -> int:
    """Return how many days of check-ins, to today, every caseload figure reads.

    7-day means and adherence, the 14-day slope, the risk rules' windows
    (services.risk) and the step-up flag's window; the last check-in and
    the current streak reach further and come from EarlierCheckins.
    """
    risk_recent_days = 14  # services.risk: use, craving spikes and short sleep within the last 14 days
    return max(7, SLOPE_DAYS, RISK_RULES["self_harm_days"], risk_recent_days, int(limits["step_up_window_days"]))


def caseload_figures(patients: list, now: datetime, limits: dict) -> dict[int, tuple[dict, int]]:
    """Return each patient's caseload figures and risk rank, computed from their records.

    patients: anything with a profile's user_id, timezone, enrolled_at and recovery_start_date.

    The figures are a caseload row without the live parts (patient,
    level_of_care, program): what services.caseload keeps per patient. The
    statements run are the same whatever the number of patients, and only
    the days the figures read are loaded, whatever the history's length.
    """
    from .alerts import alerts_by_patient, open_alert_counts, step_up_flag
    from .assessments import latest_scores
    from .attendance import attendance_by_patient

    if not patients:
        return {}
    ids = [patient.user_id for patient in patients]
    todays = {patient.user_id: local_today(now, patient.timezone) for patient in patients}
    earliest = min(todays.values())
    histories = recent_checkins(ids, earliest - timedelta(days=caseload_window_days(limits) - 1))
    scores = latest_scores(ids)
    alert_counts = open_alert_counts(ids)
    # The step-up flag compares the last two weeks of attendance with the two before.
    step_up_days = 2 * int(limits["step_up_window_days"])
    attendance = attendance_by_patient(ids, earliest - timedelta(days=step_up_days))
    recent_alerts = alerts_by_patient(ids, earliest - timedelta(days=step_up_days))

    figures = {}
    for profile in patients:
        today = todays[profile.user_id]
        history = _history(histories, profile.user_id)
        records, earlier = history.records, history.earlier
        patient_scores = scores.get(profile.user_id, {})
        sessions = attendance.get(profile.user_id, [])
        attended = _attendance_14(sessions, today)
        # Check-in adherence counts the days trends and the dashboard count
        # (services.trends, "Shares"), the same span the risk rule judges, so
        # every view shows one figure and the reason given never disagrees.
        enrolled_on, recovery_start = _enrolled_on(profile), profile.recovery_start_date
        level = assess_risk(
            records, today, self_harm_days=history.self_harm_days,
            latest_scores={code: {**s, "local_day": s["local_day"].isoformat()} for code, s in patient_scores.items()},
            attendance_rate=attended["rate"], attended_sessions=attended["attended"] + attended["missed"],
            in_treatment_since=enrolled_on, recovery_start=recovery_start, earlier=earlier,
        )
        last = last_checkin(records, today, earlier=earlier)
        checkin_share = adherence(records, today, 7, recovery_start=recovery_start,
                                  in_treatment_since=enrolled_on, earlier=earlier)
        step_up = step_up_flag(records, recent_alerts.get(profile.user_id, []), sessions, today, limits)
        counts = alert_counts.get(profile.user_id, {})
        figures[profile.user_id] = ({
            "today": today,
            "last_checkin": last,
            "days_since_last_checkin": (today - last).days if last else None,
            "current_streak": current_streak(records, today, earlier=earlier),
            "means_7": {metric: _metric_summary(records, metric, today, earlier)
                        for metric in ("craving", "mood", "sleep_hours")},
            "adherence_7": {"percent": checkin_share.percent, "days_reported": checkin_share.days_reported,
                            "days_in_window": checkin_share.days_in_window},
            "latest_scores": {code: _score_brief(patient_scores.get(code)) for code in ("phq9", "gad7", "bam")},
            "attendance_14": attended,
            "open_alerts": counts.get("open", 0),
            "urgent_alerts": counts.get("urgent", 0),
            "step_up": step_up.to_dict(),
            "risk": level.to_dict(),
        }, level.rank)
    return figures


# --- one patient -----------------------------------------------------------------

def patient_dashboard(actor: User, patient_id: int, now: datetime, days: int = 90) -> dict:
    """Return everything the care team charts for one patient, in one response."""
    from .alerts import list_alerts
    from .assessments import latest_scores, score_history
    from .attendance import attendance_by_patient, treatment_start, weekly_attendance
    from .goals import goals_by_patient, weekly_completion

    profile = patient_in_reach(actor, patient_id)
    # The risk flag and its reasons are decision support for the care team;
    # the patient has /me/summary and /me/trends.
    require_role(actor, Role.clinician, Role.admin)
    today = local_today(now, profile.timezone)
    history = _history(checkin_histories([profile.user_id]), profile.user_id)
    by_day = {record.day: record for record in history.records}
    series = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        record = by_day.get(day)
        series.append({
            "date": day, "checked_in": record is not None,
            "craving": record.craving if record else None, "mood": record.mood if record else None,
            "sleep_hours": record.sleep_hours if record else None,
            "used_substance": record.used_substance if record else None,
            "late": record.late if record else None,
        })
    weeks = 8
    since = today - timedelta(days=7 * weeks + 7)
    sessions = attendance_by_patient([profile.user_id], since)[profile.user_id]
    changes = [(c.effective_date, c.level_of_care) for c in profile.level_of_care_history]
    attendance_weeks = weekly_attendance(sessions, today, weeks, profile.level_of_care,
                                         treatment_start=treatment_start(profile), level_changes=changes)
    goal_weeks = weekly_completion(goals_by_patient([profile.user_id], since)[profile.user_id], today, weeks)
    scores = latest_scores([profile.user_id])[profile.user_id]
    last_14 = [s for s in sessions if s.session_date > today - timedelta(days=14)]
    attended = _attendance_14(last_14, today)
    risk = assess_risk(
        history.records, today, self_harm_days=history.self_harm_days,
        latest_scores={code: {**s, "local_day": s["local_day"].isoformat()} for code, s in scores.items()},
        attendance_rate=attended["rate"], attended_sessions=attended["attended"] + attended["missed"],
        in_treatment_since=_enrolled_on(profile), recovery_start=profile.recovery_start_date,
    )
    return {
        "patient": profile,
        "today": today,
        "days": days,
        "series": series,
        "trends": patient_trends(history.records, today, profile.recovery_start_date, 28,
                                 in_treatment_since=_enrolled_on(profile)).to_dict(),
        "goals": [{"week_start": w.week_start, "done": w.done, "total": w.total,
                   "rate": None if w.rate is None else round(100 * w.rate, 1)} for w in goal_weeks],
        "attendance": [{
            "week_start": w.week_start, "level_of_care": w.level_of_care.value, "attended": w.attended,
            "missed": w.missed, "excused": w.excused, "hours_attended": w.hours_attended,
            "planned_hours": [w.planned_hours_min, w.planned_hours_max], "plan_status": w.plan_status,
            "in_progress": w.in_progress,
        } for w in attendance_weeks],
        "scores": score_history(profile.user_id),
        "risk": risk.to_dict(),
        "alerts": list_alerts(actor, patient_id=profile.user_id, page_size=200)[0],
    }


# --- the patient's own summary -------------------------------------------------------

def own_summary(patient: User, now: datetime) -> dict:
    """Return the patient's home screen: today's status, streaks, what is due."""
    from .assessments import due_assessments
    from .goals import goal_week

    profile = patient.patient_profile
    today = local_today(now, profile.timezone)
    history = _history(checkin_histories([patient.id]), patient.id)
    streaks = abstinence(history.records, today, profile.recovery_start_date,
                         in_treatment_since=_enrolled_on(profile))
    due = due_assessments(patient, now)
    goals = goal_week(patient, None, now).completion
    return {
        "today": today,
        "checked_in_today": any(r.day == today for r in history.records),
        "current_streak": streaks.current_streak,
        "longest_streak": streaks.longest_streak,
        "days_since_recovery_start": streaks.days_since_recovery_start,
        "percent_days_abstinent_30": streaks.pda_for(30).to_dict(),
        "assessments_due": [{"instrument": o.instrument, "assignment_id": o.assignment_id,
                             "occurrence_on": o.occurrence_on, "due_until": o.due_until} for o in due.due],
        "goals_this_week": {"done": goals.done, "total": goals.total},
    }


# --- a program, for directors ------------------------------------------------------------

# Small-cell suppression: no figure of a program report describes fewer
# patients than this, so that a reader who knows some of the program's
# patients cannot work out another's numbers from it.
REPORT_MIN_GROUP = 5


def program_report(actor: User, program_id: int, now: datetime, min_group: int = REPORT_MIN_GROUP) -> dict:
    """Return a program's outcomes: enrolment, retention, attendance, PDA and score change.

    An admin of the organization, or a clinician on the care team of at least
    one of the program's patients, may read it; for anyone else it does not exist.
    A figure over fewer than min_group patients is None, and suppressed says why.
    """
    from models import CareTeamMember

    from .assessments import latest_scores
    from .attendance import attendance_by_patient
    from .errors import NotFound

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
    pda_first, pda_latest = [], []
    attended = missed = attending = 0
    score_change = {"phq9": [], "gad7": []}
    for profile, user in patients:
        today = local_today(now, profile.timezone)
        start = _enrolled_on(profile)
        records = _history(histories, user.id).records
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
    mean = lambda values: round(sum(values) / len(values), 1) if values else None  # noqa: E731
    # Shares are averaged unrounded and rounded once, at the output.
    mean_percent = lambda shares: round(100 * sum(shares) / len(shares), 1) if shares else None  # noqa: E731
    cells = _SmallCells(min_group)
    # Group sizes (enrolled, eligible, patients) come from enrolment and are
    # shown; what they did is shown only over enough of them. No figure here
    # is a subgroup of another shown over the same patients, so counts and
    # their complements are the only differences to guard.
    return {
        "program": program,
        "patients_enrolled": len(patients),
        "active_patients": cells.count("active_patients", active, len(patients)),
        "retention": {f"{weeks}_weeks": {
            "eligible": eligible,
            "retained": cells.count(f"retention.{weeks}_weeks.retained", retained, eligible),
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

    def __init__(self, min_group: int):
        self.min_group = min_group
        self.reasons: dict[str, str] = {}
        self._too_few = f"Computed over fewer than {min_group} patients."
        self._reveals_few = (f"Would reveal a group of fewer than {min_group} patients "
                             "(those it counts, or the rest of its total).")

    def over(self, figure: str, value, patients: int):
        """Return value, a figure computed over patients, or None when they are too few."""
        if patients < self.min_group:
            self.reasons[figure] = self._too_few
            return None
        return value

    def count(self, figure: str, value, total: int, having: int | None = None):
        """Return value, a figure telling how many of total patients have something, or None.

        Held back when total is too small, and when the patients having it
        (having, or value itself) or those not having it are too few: the
        total is shown, so either group follows from the other.
        """
        having = value if having is None else having
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
