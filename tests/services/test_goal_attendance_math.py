"""Weekly goal completion and attendance: table tests, properties, and the caseload loaders.

The property tests check every figure against a second computation written
differently: weeks keyed by ISO calendar (year, week) instead of Monday
arithmetic, a day-by-day scan of each week, and exact fractions.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import PLANNED_WEEKLY_HOURS, AttendanceStatus, LevelOfCare
from services.attendance import attendance_by_patient, plan_status, weekly_attendance
from services.goals import goals_by_patient, week_start_of, weekly_completion
from tests.factories import create_goal, create_session
from tests.queries import count_queries

DAY = timedelta(days=1)
MONDAY = date(2026, 11, 23)
DONE = datetime(2026, 11, 1, tzinfo=timezone.utc)
IOP, OUTPATIENT, PHP = LevelOfCare.iop, LevelOfCare.outpatient, LevelOfCare.php


@dataclass
class Goal:
    week_start: date
    done_at: datetime | None = None


@dataclass
class Session:
    session_date: date
    status: AttendanceStatus
    hours: float


def attended(day: date, hours: float = 3.0) -> Session:
    return Session(day, AttendanceStatus.attended, hours)


def missed(day: date, hours: float = 3.0) -> Session:
    return Session(day, AttendanceStatus.missed, hours)


def excused(day: date, hours: float = 3.0) -> Session:
    return Session(day, AttendanceStatus.excused, hours)


# --- weeks ----------------------------------------------------------------------

@pytest.mark.parametrize("day, monday", [
    (date(2026, 11, 23), date(2026, 11, 23)),  # a Monday is its own week's start
    (date(2026, 11, 29), date(2026, 11, 23)),  # Sunday closes the week
    (date(2026, 11, 30), date(2026, 11, 30)),
    (date(2027, 1, 1), date(2026, 12, 28)),  # a week across the new year
    (date(2028, 3, 1), date(2028, 2, 28)),  # a week across a leap day
    (date(2026, 11, 1), date(2026, 10, 26)),  # the Sunday a US DST change falls on
])
def test_a_week_starts_on_the_monday_on_or_before_a_day(day, monday):
    assert week_start_of(day) == monday


# --- goal completion: table ---------------------------------------------------------

def test_weeks_without_goals_have_no_rate_rather_than_0():
    weeks = weekly_completion([], MONDAY, 3)

    assert [(w.week_start, w.done, w.total, w.rate) for w in weeks] == [
        (date(2026, 11, 9), 0, 0, None), (date(2026, 11, 16), 0, 0, None), (MONDAY, 0, 0, None)]


@pytest.mark.parametrize("goals, expected", [
    ([Goal(MONDAY)], (0, 1, 0.0)),
    ([Goal(MONDAY, DONE)], (1, 1, 1.0)),
    ([Goal(MONDAY, DONE), Goal(MONDAY), Goal(MONDAY)], (1, 3, 1 / 3)),
    ([Goal(MONDAY, DONE)] * 4 + [Goal(MONDAY)], (4, 5, 0.8)),
])
def test_completion_is_done_over_total(goals, expected):
    week = weekly_completion(goals, MONDAY + 3 * DAY, 1)[0]

    assert (week.done, week.total, week.rate) == expected


def test_goals_outside_the_weeks_asked_for_are_left_out():
    goals = [Goal(date(2026, 11, 2), DONE), Goal(date(2026, 11, 9)), Goal(MONDAY, DONE), Goal(MONDAY + 7 * DAY)]

    weeks = weekly_completion(goals, MONDAY, 2)

    assert [(w.week_start, w.done, w.total) for w in weeks] == [(date(2026, 11, 16), 0, 0), (MONDAY, 1, 1)]


def test_the_current_week_is_the_last_and_sunday_still_belongs_to_it():
    weeks = weekly_completion([Goal(MONDAY)], MONDAY + 6 * DAY, 2)

    assert [w.week_start for w in weeks] == [date(2026, 11, 16), MONDAY]
    assert weeks[-1].total == 1 and weeks[-1].week_end == MONDAY + 6 * DAY


def test_asking_for_no_weeks_is_a_caller_error():
    with pytest.raises(ValueError):
        weekly_completion([], MONDAY, 0)


# --- attendance: table -----------------------------------------------------------------

LAST_WEEK = date(2026, 11, 16)
TODAY = date(2026, 11, 25)  # Wednesday of the current week


def last_week(sessions, level=IOP, **options):
    return weekly_attendance(sessions, TODAY, 2, level, **options)[0]


@pytest.mark.parametrize("sessions, counts, rate", [
    ([], (0, 0, 0), None),
    ([excused(LAST_WEEK), excused(LAST_WEEK + DAY)], (0, 0, 2), None),  # excused only: no rate
    ([attended(LAST_WEEK), missed(LAST_WEEK + DAY)], (1, 1, 0), 0.5),
    ([attended(LAST_WEEK), missed(LAST_WEEK), excused(LAST_WEEK)], (1, 1, 1), 0.5),  # excused left out
    ([missed(LAST_WEEK)], (0, 1, 0), 0.0),
    ([attended(LAST_WEEK)] * 3 + [missed(LAST_WEEK + 6 * DAY)], (3, 1, 0), 0.75),
])
def test_attendance_rate_is_attended_over_attended_and_missed(sessions, counts, rate):
    week = last_week(sessions)

    assert (week.attended, week.missed, week.excused) == counts
    assert week.sessions == sum(counts)
    assert week.attendance_rate == rate


def test_only_attended_hours_count_toward_the_plan():
    week = last_week([attended(LAST_WEEK, 3), attended(LAST_WEEK, 2.75), missed(LAST_WEEK, 3), excused(LAST_WEEK, 1.5)])

    assert (week.hours_attended, week.hours_missed, week.hours_excused) == (5.75, 3.0, 1.5)
    assert week.plan_status == "below"


@pytest.mark.parametrize("level, hours, status", [
    (IOP, 8.75, "below"), (IOP, 9, "within"), (IOP, 20, "within"), (IOP, 20.25, "above"),
    (OUTPATIENT, 0.75, "below"), (OUTPATIENT, 1, "within"), (OUTPATIENT, 9, "within"), (OUTPATIENT, 9.25, "above"),
    (PHP, 19.75, "below"), (PHP, 20, "within"), (PHP, 35, "within"), (PHP, 35.25, "above"),
])
def test_the_plan_bounds_are_inclusive(level, hours, status):
    sessions = [attended(LAST_WEEK + n * DAY, hours / 4) for n in range(4)]

    assert last_week(sessions, level).plan_status == status
    assert plan_status(hours, level) == status


def test_the_current_week_is_in_progress_and_not_judged():
    current = weekly_attendance([attended(TODAY, 12), attended(TODAY - DAY, 12)], TODAY, 1, IOP)[0]

    assert current.in_progress and current.hours_attended == 24
    assert current.plan_status is None


def test_a_week_that_began_before_treatment_is_not_judged_and_a_week_starting_on_it_is():
    weeks = weekly_attendance([], TODAY, 4, IOP, treatment_start=LAST_WEEK - 7 * DAY)

    assert [w.plan_status for w in weeks] == [None, "below", "below", None]


def test_sessions_after_today_or_outside_the_weeks_are_left_out():
    sessions = [attended(TODAY + DAY), attended(LAST_WEEK - DAY), attended(TODAY)]

    weeks = weekly_attendance(sessions, TODAY, 2, IOP)

    assert [w.attended for w in weeks] == [0, 1]


@pytest.mark.parametrize("effective, expected", [
    (LAST_WEEK, ["iop", "php", "php"]),  # effective on a Monday: that week
    (LAST_WEEK + DAY, ["iop", "iop", "php"]),  # midweek: from the next week
    (TODAY + 30 * DAY, ["iop", "iop", "iop"]),  # dated ahead: not yet
])
def test_each_week_takes_the_level_of_care_in_effect_on_its_monday(effective, expected):
    changes = [(date(2026, 10, 1), IOP), (effective, LevelOfCare.php)]

    weeks = weekly_attendance([], TODAY, 3, LevelOfCare.php, level_changes=changes)

    assert [w.level_of_care.value for w in weeks] == expected


def test_a_week_before_any_placement_takes_the_first_placements_level():
    changes = [(TODAY, LevelOfCare.php), (LAST_WEEK, LevelOfCare.outpatient)]  # given out of order

    weeks = weekly_attendance([], TODAY, 3, IOP, level_changes=changes)

    assert [w.level_of_care for w in weeks] == [LevelOfCare.outpatient] * 3


# --- properties against an independent computation ---------------------------------------

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


def iso_week(day: date) -> tuple[int, int]:
    return day.isocalendar()[:2]


def window(today: date, weeks: int) -> list[tuple[int, int]]:
    """The ISO weeks of the window, found by stepping back a week at a time."""
    found = []
    day = today
    while len(found) < weeks:
        if iso_week(day) not in found:
            found.insert(0, iso_week(day))
        day -= DAY
    return found


@settings(max_examples=300, deadline=None)
@given(today=days, weeks=st.integers(1, 12),
       goals=st.lists(st.tuples(st.integers(-100, 14), st.booleans()), max_size=40))
def test_completion_matches_an_iso_week_count(today, weeks, goals):
    goals = [Goal(week_start_of(today + offset * DAY), DONE if done else None) for offset, done in goals]

    result = weekly_completion(goals, today, weeks)

    expected = []
    for key in window(today, weeks):
        in_week = [g for g in goals if iso_week(g.week_start) == key]
        finished = len([g for g in in_week if g.done_at])
        expected.append((key, finished, len(in_week),
                         float(Fraction(finished, len(in_week))) if in_week else None))
    assert [(iso_week(w.week_start), w.done, w.total, w.rate) for w in result] == expected


sessions = st.lists(st.tuples(
    st.integers(-120, 10), st.sampled_from(list(AttendanceStatus)), st.integers(0, 48),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(today=days, weeks=st.integers(1, 16), raw=sessions, level=st.sampled_from(list(LevelOfCare)),
       start_offset=st.none() | st.integers(-150, 0))
def test_attendance_matches_a_day_by_day_scan(today, weeks, raw, level, start_offset):
    records = [Session(today + offset * DAY, status, quarters / 4) for offset, status, quarters in raw]
    treatment_start = None if start_offset is None else today + start_offset * DAY

    result = weekly_attendance(records, today, weeks, level, treatment_start=treatment_start)

    low, high = PLANNED_WEEKLY_HOURS[level]
    assert len(result) == weeks
    for week, key in zip(result, window(today, weeks), strict=True):
        week_days = [d for d in (week.week_start + n * DAY for n in range(7)) if d <= today]
        assert iso_week(week.week_start) == key and week.week_start.isoweekday() == 1
        tally = {status: [r for r in records if r.session_date in week_days and r.status is status]
                 for status in AttendanceStatus}
        came, absent = len(tally[AttendanceStatus.attended]), len(tally[AttendanceStatus.missed])
        hours = sum(Fraction(r.hours) for r in tally[AttendanceStatus.attended])
        assert (week.attended, week.missed, week.excused) == (came, absent, len(tally[AttendanceStatus.excused]))
        assert week.attendance_rate == (float(Fraction(came, came + absent)) if came + absent else None)
        assert Fraction(week.hours_attended) == hours
        assert Fraction(week.hours_missed) == sum(Fraction(r.hours) for r in tally[AttendanceStatus.missed])
        finished = today > week.week_start + 6 * DAY
        in_treatment = treatment_start is None or week.week_start >= treatment_start
        if finished and in_treatment:
            assert week.plan_status == ["below", "within", "above"][(hours >= low) + (hours > high)]
        else:
            assert week.plan_status is None
        assert week.in_progress is not finished


# --- the caseload loaders: one statement whatever the caseload -----------------------------

def caseload(make, size: int):
    clinician = make.clinician()
    patients = [make.patient(clinician) for _ in range(size)]
    for patient in patients:
        create_goal(patient, date(2026, 11, 9), "Old", done_at=DONE)
        create_goal(patient, MONDAY, "This week")
        create_session(patient, date(2026, 11, 1), clinician, status="missed")
        create_session(patient, date(2026, 11, 20), clinician)
    return patients


@pytest.mark.parametrize("size", [2, 20])
def test_the_loaders_run_one_statement_each_for_any_caseload(make, size):
    ids = [patient.id for patient in caseload(make, size)]

    with count_queries() as goal_statements:
        goals = goals_by_patient(ids, date(2026, 11, 10))
    with count_queries() as attendance_statements:
        sessions = attendance_by_patient(ids, date(2026, 11, 10))

    assert goal_statements() == 1
    assert attendance_statements() == 1
    assert sorted(goals) == sorted(sessions) == sorted(ids)
    # The goal week holding "since" counts: the week of the 9th holds the 10th.
    assert all([g.text for g in goals[i]] == ["Old", "This week"] for i in ids)
    assert all([(s.session_date, s.status) for s in sessions[i]] == [(date(2026, 11, 20), AttendanceStatus.attended)]
               for i in ids)


def test_the_loaders_give_each_patient_only_their_own_rows_and_an_empty_list_when_none(make):
    first, second = caseload(make, 2)
    quiet = make.patient()

    goals = goals_by_patient([first.id, quiet.id], date(2026, 11, 16))
    sessions = attendance_by_patient([quiet.id, first.id], date(2026, 10, 1))

    assert [(g.patient_id, g.text, g.done_at) for g in goals[first.id]] == [(first.id, "This week", None)]
    assert goals[quiet.id] == [] and sessions[quiet.id] == []
    assert [s.session_date for s in sessions[first.id]] == [date(2026, 11, 1), date(2026, 11, 20)]
    assert second.id not in goals and second.id not in sessions


def test_the_loaders_ask_nothing_of_the_database_for_no_patients(app):
    with count_queries() as statements:
        assert goals_by_patient([], MONDAY) == {}
        assert attendance_by_patient([], MONDAY) == {}

    assert statements() == 0


def test_weekly_figures_accept_the_loaders_rows(make):
    patient = caseload(make, 1)[0]

    rows = attendance_by_patient([patient.id], date(2026, 10, 1))[patient.id]
    goal_rows = goals_by_patient([patient.id], date(2026, 10, 1))[patient.id]

    assert [w.attended for w in weekly_attendance(rows, MONDAY, 4, IOP)] == [0, 0, 1, 0]
    assert [(w.done, w.total) for w in weekly_completion(goal_rows, MONDAY, 3)] == [(1, 1), (0, 0), (0, 1)]
