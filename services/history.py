"""A patient's check-in history as the figures read it: the loaders every view shares.

Every loader here reads many patients in a fixed number of statements, so a
caseload of 500 costs the same number of round trips as one of 5. The
queries that summarise the older check-ins are written per dialect
(PostgreSQL's window functions, SQLite's group_concat), each where it is fast.
"""
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import Date, Integer, String, Text, bindparam, exists, func, not_, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from models import Checkin, PatientProfile, db

from .days import local_today
from .summaries import SUMMARY_DAYS
from .trends import DayRecord, EarlierCheckins


@dataclass(frozen=True)
class CheckinHistory:
    """One patient's check-ins as the statistics need them."""

    records: list[DayRecord]
    self_harm_days: list[date]
    # With recent_checkins: the check-ins before the loaded window, summarised.
    earlier: EarlierCheckins | None = None


def checkin_histories(patient_ids: list[int], since: date | None = None) -> dict[int, CheckinHistory]:
    """Load the check-ins of many patients in one statement."""
    histories: dict[int, tuple[list[DayRecord], list[date]]] = defaultdict(lambda: ([], []))
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


class _day_before(FunctionElement[date]):
    """The calendar day before a DATE column, in the database's own arithmetic."""

    type = Date()
    name = "day_before"
    inherit_cache = True


@compiles(_day_before)
def _day_before_default(element: _day_before, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - 1)"  # PostgreSQL: date - integer


@compiles(_day_before, "sqlite")
def _day_before_sqlite(element: _day_before, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '-1 day')"  # dates are ISO text


class _day_number(FunctionElement[int]):
    """A DATE as a whole number of days, for runs of consecutive days."""

    type = Integer()
    name = "day_number"
    inherit_cache = True


@compiles(_day_number)
def _day_number_default(element: _day_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - DATE '2000-01-01')"


@compiles(_day_number, "sqlite")
def _day_number_sqlite(element: _day_number, compiler: SQLCompiler, **kw: Any) -> str:
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
    loaded: dict[int, tuple[list[DayRecord], list[date]]] = {patient_id: ([], []) for patient_id in ids}
    skill_lists: dict[str | None, tuple[str, ...]] = {None: ()}
    days = _Days()
    for row in rows:
        records, harm = loaded[row[0]]
        day = days[row[1]]
        skills: tuple[str, ...] = ()
        if coping_skills:
            known = skill_lists.get(row[8])
            if known is None:
                known = skill_lists[row[8]] = tuple(json.loads(row[8]) or ())
            skills = known
        records.append(DayRecord(day, row[2], row[3], row[4], row[5], skills, row[6]))
        if row[7]:
            harm.append(day)
    earlier = _earlier_checkins(ids, since, longest_run)
    return {patient_id: CheckinHistory(records, harm, earlier.get(patient_id, EarlierCheckins(since)))
            for patient_id, (records, harm) in loaded.items()}


@cache
def _recent_statement(coping_skills: bool) -> Select[Any]:
    """Build once the statement recent_checkins runs, with :ids and :since."""
    # The day as the driver gives it (_Days): SQLAlchemy's SQLite DATE parses
    # every value with a regular expression, about a microsecond a row.
    columns = [Checkin.patient_id, type_coerce(Checkin.day, String), Checkin.craving, Checkin.mood,
               Checkin.sleep_hours, Checkin.used_substance, Checkin.late, Checkin.self_harm_thoughts]
    if coping_skills:
        # As the JSON text: most days repeat a handful of skill lists, each decoded once.
        columns.append(Checkin.coping_skills.cast(Text))
    return (select(*columns)
            .where(Checkin.patient_id.in_(bindparam("ids", expanding=True)),
                   Checkin.day >= bindparam("since", type_=Date))
            .order_by(Checkin.patient_id, Checkin.day))


class _Days(dict[str | date, date]):
    """A day as the driver returns it (an ISO string on SQLite) -> a date, each distinct one parsed once."""

    def __missing__(self, value: str | date) -> date:
        day = self[value] = date.fromisoformat(value) if isinstance(value, str) else value
        return day


def weekly_histories(patient_ids: list[int], earliest_week_start: date) -> dict[int, CheckinHistory]:
    """Load what the weekly summaries of weeks starting on or after earliest_week_start read.

    The check-ins of the SUMMARY_DAYS to the earliest week's end, with the
    older ones summarised for the streaks (build_weekly_summary's earlier).
    """
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
def _earlier_statement(longest_run: bool) -> Select[Any]:
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
    ids: BindParameter[Any] = bindparam("ids", expanding=True)
    summary = select(*columns).where(profile.c.user_id.in_(ids))
    if longest_run:  # in the same statement: the job runs it once per small batch
        longest = _longest_runs(ids, before)
        summary = summary.add_columns(longest.c.longest).outerjoin(
            longest, longest.c.patient_id == profile.c.user_id)
    return summary


def _longest_runs(ids: BindParameter[Any], before: BindParameter[date]) -> Subquery:
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
def _day_lists_statement() -> Select[Any]:
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


class _DayNumbers(dict[str, int]):
    """ISO day -> day number, each distinct day parsed once (a batch's patients share their days)."""

    def __missing__(self, iso_day: str) -> int:
        number = self[iso_day] = date.fromisoformat(iso_day).toordinal()
        return number


def history_of(histories: dict[int, CheckinHistory], patient_id: int) -> CheckinHistory:
    """Return a patient's loaded history, empty when they have no check-in."""
    return histories.get(patient_id) or CheckinHistory([], [])


class EnrolledPatient(Protocol):
    """What the figures read of a patient's profile (a PatientProfile, or a row of its columns)."""

    @property
    def user_id(self) -> int: ...
    @property
    def timezone(self) -> str: ...
    @property
    def enrolled_at(self) -> datetime: ...
    @property
    def recovery_start_date(self) -> date | None: ...


def enrolled_on(profile: EnrolledPatient) -> date:
    """Return the patient's local day of enrolment: no app to check in with before it.

    Every view passes it as in_treatment_since, so their shares count the same days.
    """
    return local_today(profile.enrolled_at, profile.timezone)

