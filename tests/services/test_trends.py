"""Trends: means, slopes, streaks, PDA, adherence and what helps.

The property tests check every figure against a second, deliberately naive
computation written here: a day-by-day calendar scan and the stdlib's
statistics module. The table tests pin the cases a clinician would ask about.
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.trends import (
    METRICS,
    MIN_DAYS_FOR_WHAT_HELPS,
    MIN_POINTS_FOR_DIRECTION,
    STEADY_THRESHOLD,
    DayRecord,
    abstinence,
    adherence,
    coping_skill_frequency,
    metric_trend,
    patient_trends,
    rolling_mean,
    slope,
    week_over_week,
    what_helps,
)

DAY = timedelta(days=1)
TODAY = date(2026, 5, 20)
UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")

# Rounded outputs against unrounded references: allow half a rounding unit.
MEAN = 0.005 + 1e-9
SLOPE = 0.0005 + 1e-9
PERCENT = 0.05 + 1e-9


def checkin(
    day: date,
    *,
    craving: int = 3,
    mood: int = 6,
    sleep_hours: float = 7.0,
    used: bool = False,
    skills: tuple[str, ...] = (),
    late: bool = False,
) -> DayRecord:
    return DayRecord(day, craving, mood, sleep_hours, used, skills, late)


def every_day(first: date, last: date, **fields) -> list[DayRecord]:
    count = (last - first).days + 1
    return [checkin(first + k * DAY, **fields) for k in range(count)]


def local_day(instant_utc: datetime, zone: ZoneInfo) -> date:
    """What the check-in API does: the patient's zone decides the date."""
    return instant_utc.astimezone(zone).date()


# ---------------------------------------------------------------------------
# Reference computations: a calendar walked one day at a time
# ---------------------------------------------------------------------------


def calendar_of(records, today):
    return {record.day: record for record in records if record.day <= today}


def window_days(today, days):
    return [today - k * DAY for k in range(days)]


def ref_values(records, metric, today, days):
    calendar = calendar_of(records, today)
    return [
        getattr(calendar[day], metric) for day in window_days(today, days) if day in calendar
    ]


def ref_mean(records, metric, today, days):
    values = ref_values(records, metric, today, days)
    return statistics.fmean(values) if values else None


def ref_slope(records, metric, today, days=14):
    calendar = calendar_of(records, today)
    present = [day for day in window_days(today, days) if day in calendar]
    if len(present) < MIN_POINTS_FOR_DIRECTION:
        return None
    fit = statistics.linear_regression(
        [day.toordinal() for day in present],
        [getattr(calendar[day], metric) for day in present],
    )
    return fit.slope


def ref_direction(metric, per_day):
    if per_day is None:
        return None
    if -STEADY_THRESHOLD[metric] <= per_day <= STEADY_THRESHOLD[metric]:
        return "steady"
    going_down = per_day < 0
    if metric == "craving":
        return "improving" if going_down else "worsening"
    return "worsening" if going_down else "improving"


def ref_counted_days(records, today, days, recovery_start):
    """Days of the window the patient was in treatment and that are over or reported."""
    calendar = calendar_of(records, today)
    start = recovery_start or min(calendar, default=None)
    if start is None:
        return []
    return [
        day
        for day in window_days(today, days)
        if day >= start and (day < today or day in calendar)
    ]


def ref_counted_days_enrolled(records, today, days, recovery_start, enrolled_on):
    """Days of the window in treatment: from enrolment every day that is over or
    reported, before it only the reported ones, and never before recovery_start."""
    calendar = calendar_of(records, today)
    return [
        day
        for day in window_days(today, days)
        if (recovery_start is None or day >= recovery_start)
        and (day in calendar or (day >= enrolled_on and day < today))
    ]


def ref_streaks(records, today):
    calendar = calendar_of(records, today)
    if not calendar:
        return 0, 0
    statuses = []  # one per calendar day, oldest first: True abstinent, else False
    day = min(calendar)
    while day <= today:
        record = calendar.get(day)
        statuses.append(record is not None and not record.used_substance)
        day += DAY
    longest = run = 0
    for abstinent in statuses:
        run = run + 1 if abstinent else 0
        longest = max(longest, run)
    if today not in calendar:
        statuses.pop()  # today is not over
    current = 0
    for abstinent in reversed(statuses):
        if not abstinent:
            break
        current += 1
    return current, longest


def ref_what_helps(records, today, days=90):
    calendar = calendar_of(records, today)
    window = set(window_days(today, days))
    skills = {skill for day in window if day in calendar for skill in calendar[day].coping_skills}
    pairs = [
        (calendar[day], calendar[day + DAY].craving)
        for day in window
        if day in calendar and day + DAY in calendar and day + DAY in window
    ]
    result = {}
    for skill in skills:
        after_with = [craving for record, craving in pairs if skill in record.coping_skills]
        after_without = [craving for record, craving in pairs if skill not in record.coping_skills]
        enough = min(len(after_with), len(after_without)) >= MIN_DAYS_FOR_WHAT_HELPS
        result[skill] = (
            statistics.fmean(after_with) if enough else None,
            statistics.fmean(after_without) if enough else None,
            len(after_with),
            len(after_without),
        )
    return result


def close_to(expected, tolerance):
    return None if expected is None else pytest.approx(expected, abs=tolerance)


# ---------------------------------------------------------------------------
# Generated patients: runs of daily check-ins with gaps, in any order
# ---------------------------------------------------------------------------

SKILLS = ("urge_surfing", "mindfulness", "exercise", "reach_out", "meeting")


@st.composite
def patients(draw):
    """A patient's check-ins: runs of days with gaps, some after today, in any order.

    Hypothesis draws the shape (today, how many check-ins, the recovery start)
    and a seed; the values come from that seed, which keeps 200 examples of up
    to 110 check-ins fast. A failing example still prints every record.
    """
    today = draw(st.dates(date(2025, 1, 1), date(2027, 12, 31)))
    count = draw(st.integers(0, 110))
    rng = random.Random(draw(st.integers(0, 2**32)))
    recovery_start = draw(
        st.none() | st.integers(-5, 130).map(lambda back: today - back * DAY)
    )
    # Walk back from a little after today (those days must be ignored),
    # mostly one day at a time so that streaks and day pairs form.
    day = today + rng.randint(0, 3) * DAY
    records = []
    for _ in range(count):
        records.append(
            DayRecord(
                day=day,
                craving=rng.randint(0, 10),
                mood=rng.randint(0, 10),
                sleep_hours=rng.randint(0, 96) / 4,
                used_substance=rng.random() < 0.15,
                coping_skills=tuple(rng.choices(SKILLS, k=rng.randint(0, 3))),
                late=rng.random() < 0.1,
            )
        )
        day -= rng.choice([1, 1, 1, 1, 1, 2, 3, 6]) * DAY
    rng.shuffle(records)
    return records, today, recovery_start


property_test = settings(max_examples=200, database=None, deadline=None)


@property_test
@given(patients(), st.sampled_from(METRICS), st.integers(1, 60))
def test_every_rolling_mean_matches_a_plain_average(patient, metric, days):
    records, today, _ = patient
    figure = rolling_mean(records, metric, today, days)
    assert figure.value == close_to(ref_mean(records, metric, today, days), MEAN)
    assert figure.n == len(ref_values(records, metric, today, days))
    calendar = calendar_of(records, today)
    assert figure.n_late == sum(
        calendar[day].late for day in window_days(today, days) if day in calendar
    )


@property_test
@given(patients(), st.sampled_from(METRICS))
def test_the_slope_matches_the_stdlib_regression_and_reads_the_right_way(patient, metric):
    records, today, _ = patient
    figure = slope(records, metric, today)
    expected = ref_slope(records, metric, today)
    assert figure.n == len(ref_values(records, metric, today, 14))
    assert figure.value == close_to(expected, SLOPE)
    near_threshold = expected is not None and abs(
        abs(expected) - STEADY_THRESHOLD[metric]
    ) < 1e-9
    if not near_threshold:
        assert figure.direction == ref_direction(metric, expected)


@property_test
@given(patients(), st.sampled_from(METRICS))
def test_week_over_week_is_this_week_minus_last_week(patient, metric):
    records, today, _ = patient
    figure = week_over_week(records, metric, today)
    this_week = ref_values(records, metric, today, 7)
    last_week = ref_values(records, metric, today - 7 * DAY, 7)
    assert (figure.n_this, figure.n_last) == (len(this_week), len(last_week))
    if this_week and last_week:
        expected = statistics.fmean(this_week) - statistics.fmean(last_week)
        assert figure.value == pytest.approx(expected, abs=MEAN)
    else:
        assert figure.value is None


@property_test
@given(patients(), st.sampled_from(METRICS))
def test_missing_days_are_days_in_treatment_without_a_check_in(patient, metric):
    records, today, recovery_start = patient
    trend = metric_trend(records, metric, today, recovery_start=recovery_start)
    calendar = calendar_of(records, today)
    counted = ref_counted_days(records, today, 28, recovery_start)
    assert trend.missing_days == sum(day not in calendar for day in counted)
    assert trend.days_with_data == len(ref_values(records, metric, today, 28))
    assert trend.mean_28.value == close_to(ref_mean(records, metric, today, 28), MEAN)


@property_test
@given(patients())
def test_streaks_match_a_day_by_day_scan(patient):
    records, today, recovery_start = patient
    result = abstinence(records, today, recovery_start)
    assert (result.current_streak, result.longest_streak) == ref_streaks(records, today)
    assert result.current_streak <= result.longest_streak


@property_test
@given(patients())
def test_percent_days_abstinent_matches_a_day_by_day_count(patient):
    records, today, recovery_start = patient
    calendar = calendar_of(records, today)
    result = abstinence(records, today, recovery_start)
    assert [figure.days for figure in result.pda] == [7, 30, 90]
    for figure in result.pda:
        counted = ref_counted_days(records, today, figure.days, recovery_start)
        reported = [calendar[day] for day in counted if day in calendar]
        abstinent = [record for record in reported if not record.used_substance]
        assert figure.days_in_window == len(counted)
        assert figure.days_reported == len(reported)
        assert figure.days_abstinent == len(abstinent)
        assert figure.days_late == sum(record.late for record in reported)
        assert figure.missing_as_use == close_to(
            100 * len(abstinent) / len(counted) if counted else None, PERCENT
        )
        assert figure.missing_excluded == close_to(
            100 * len(abstinent) / len(reported) if reported else None, PERCENT
        )
    assert result.days_since_recovery_start == (
        None if recovery_start is None else (today - recovery_start).days
    )


@property_test
@given(patients(), st.integers(1, 100))
def test_adherence_matches_a_day_by_day_count(patient, days):
    records, today, recovery_start = patient
    calendar = calendar_of(records, today)
    figure = adherence(records, today, days, recovery_start=recovery_start)
    counted = ref_counted_days(records, today, days, recovery_start)
    reported = [day for day in counted if day in calendar]
    assert (figure.days_in_window, figure.days_reported) == (len(counted), len(reported))
    assert figure.percent == close_to(
        100 * len(reported) / len(counted) if counted else None, PERCENT
    )


@property_test
@given(patients(), st.integers(1, 100))
def test_coping_skills_are_counted_once_a_day_most_practised_first(patient, days):
    records, today, _ = patient
    calendar = calendar_of(records, today)
    expected = {}
    for day in window_days(today, days):
        if day in calendar:
            for skill in set(calendar[day].coping_skills):
                expected[skill] = expected.get(skill, 0) + 1
    counts = coping_skill_frequency(records, today, days)
    assert {count.skill: count.days for count in counts} == expected
    assert [(-c.days, c.skill) for c in counts] == sorted((-c.days, c.skill) for c in counts)


@property_test
@given(patients())
def test_what_helps_matches_a_brute_force_comparison(patient):
    records, today, _ = patient
    effects = what_helps(records, today)
    expected = ref_what_helps(records, today)
    assert {effect.skill for effect in effects} == set(expected)
    for effect in effects:
        mean_with, mean_without, n_with, n_without = expected[effect.skill]
        assert (effect.n_with, effect.n_without) == (n_with, n_without)
        assert effect.mean_with == close_to(mean_with, MEAN)
        assert effect.mean_without == close_to(mean_without, MEAN)
        if mean_with is None:
            assert effect.difference is None
        else:
            assert effect.difference == pytest.approx(mean_with - mean_without, abs=MEAN)
    # Figures first, largest craving reduction first; thin ones after.
    with_figure = [effect for effect in effects if effect.difference is not None]
    assert effects[: len(with_figure)] == with_figure
    differences = [effect.difference for effect in with_figure]
    assert differences == sorted(differences)


@property_test
@given(patients())
def test_patient_trends_bundles_the_single_figures_and_serialises(patient):
    records, today, recovery_start = patient
    trends = patient_trends(records, today, recovery_start)
    assert trends.abstinence == abstinence(records, today, recovery_start)
    assert trends.adherence == adherence(records, today, 28, recovery_start=recovery_start)
    assert trends.adherence_7 == adherence(records, today, 7, recovery_start=recovery_start)
    assert list(trends.coping_skills) == coping_skill_frequency(records, today, 28)
    assert list(trends.what_helps) == what_helps(records, today)
    for metric in METRICS:
        assert trends.metric(metric) == metric_trend(
            records, metric, today, recovery_start=recovery_start
        )
    assert json.loads(json.dumps(trends.to_dict())) == trends.to_dict()


# ---------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------


def test_no_data_gives_no_figures_and_never_divides_by_zero():
    trends = patient_trends([], TODAY)
    craving = trends.metric("craving")
    assert (craving.mean_7.value, craving.mean_7.n) == (None, 0)
    assert (craving.slope_14.value, craving.slope_14.direction) == (None, None)
    assert craving.week_over_week.value is None
    assert (craving.days_with_data, craving.missing_days) == (0, 0)
    assert (trends.abstinence.current_streak, trends.abstinence.longest_streak) == (0, 0)
    assert all(
        (pda.missing_as_use, pda.missing_excluded) == (None, None)
        for pda in trends.abstinence.pda
    )
    assert trends.adherence.percent is None
    assert (trends.coping_skills, trends.what_helps, trends.last_checkin) == ((), (), None)


def test_a_patient_enrolled_but_never_checked_in_reads_zero_not_unknown():
    trends = patient_trends([], TODAY, recovery_start=TODAY - 10 * DAY)
    assert trends.adherence.percent == 0.0
    assert trends.adherence.days_in_window == 10  # today is not over yet
    assert trends.abstinence.pda_for(30).missing_as_use == 0.0
    assert trends.abstinence.pda_for(30).missing_excluded is None
    assert trends.metric("mood").missing_days == 10
    assert trends.abstinence.days_since_recovery_start == 10


def test_one_day():
    trends = patient_trends([checkin(TODAY, craving=4)], TODAY)
    assert trends.metric("craving").mean_7.value == 4.0
    assert trends.metric("craving").slope_14.direction is None
    assert (trends.abstinence.current_streak, trends.abstinence.longest_streak) == (1, 1)
    assert trends.abstinence.pda_for(90).missing_as_use == 100.0
    assert trends.adherence.percent == 100.0  # counted from the first check-in


def test_all_abstinent():
    records = every_day(TODAY - 29 * DAY, TODAY)
    result = abstinence(records, TODAY, recovery_start=TODAY - 29 * DAY)
    assert (result.current_streak, result.longest_streak) == (30, 30)
    assert [pda.missing_as_use for pda in result.pda] == [100.0, 100.0, 100.0]
    assert result.pda_for(90).days_in_window == 30  # not 90: treatment began 30 days ago
    assert result.days_since_recovery_start == 29


def test_relapse_today_ends_the_current_streak_but_keeps_the_longest():
    records = [*every_day(TODAY - 9 * DAY, TODAY - DAY), checkin(TODAY, used=True)]
    result = abstinence(records, TODAY, None)
    assert (result.current_streak, result.longest_streak) == (0, 9)
    assert result.pda_for(7).missing_as_use == pytest.approx(100 * 6 / 7, abs=PERCENT)


def test_today_not_yet_checked_in_counts_the_streak_through_yesterday():
    records = every_day(TODAY - 5 * DAY, TODAY - DAY)
    result = abstinence(records, TODAY, None)
    assert result.current_streak == 5
    # The unfinished day is not a missing day either.
    assert result.pda_for(7).missing_as_use == 100.0
    assert adherence(records, TODAY, 7).percent == 100.0


def test_a_day_without_a_check_in_breaks_the_streak():
    records = [
        record
        for record in every_day(TODAY - 9 * DAY, TODAY)
        if record.day != TODAY - 3 * DAY
    ]
    result = abstinence(records, TODAY, None)
    assert (result.current_streak, result.longest_streak) == (3, 6)
    assert result.pda_for(7).missing_as_use == pytest.approx(100 * 6 / 7, abs=PERCENT)
    assert result.pda_for(7).missing_excluded == 100.0


def test_days_after_today_and_record_order_do_not_matter():
    records = every_day(TODAY - 6 * DAY, TODAY + 3 * DAY, craving=2)
    records[-1] = checkin(TODAY + 3 * DAY, craving=10, used=True)
    shuffled = records[::2] + records[1::2]
    assert patient_trends(shuffled, TODAY) == patient_trends(records[:7], TODAY)
    assert rolling_mean(shuffled, "craving", TODAY, 7).value == 2.0


def test_two_check_ins_for_one_day_are_refused():
    with pytest.raises(ValueError, match="two check-ins"):
        patient_trends([checkin(TODAY), checkin(TODAY, craving=9)], TODAY)


def test_check_ins_before_recovery_start_are_outside_the_treatment_period():
    records = [checkin(TODAY - 20 * DAY + k * DAY, used=k < 10) for k in range(21)]
    result = abstinence(records, TODAY, recovery_start=TODAY - 10 * DAY)
    assert result.pda_for(30).days_in_window == 11
    assert result.pda_for(30).missing_as_use == 100.0
    assert result.longest_streak == 11  # streaks are facts about check-ins, start or not


def test_late_check_ins_are_counted_and_flagged():
    records = every_day(TODAY - 6 * DAY, TODAY)
    records[2] = checkin(records[2].day, late=True)
    trends = patient_trends(records, TODAY)
    assert trends.abstinence.pda_for(7).days_late == 1
    assert trends.adherence_7.days_late == 1
    assert trends.metric("craving").mean_7.n_late == 1


# ---------------------------------------------------------------------------
# Days are local dates: DST and a move between zones
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_day", "local_time", "change_day", "hours_on_change"),
    [
        pytest.param(date(2026, 3, 4), time(21), date(2026, 3, 8), 23, id="spring-forward"),
        pytest.param(date(2026, 10, 28), time(0, 30), date(2026, 11, 1), 25, id="fall-back"),
    ],
)
def test_a_dst_change_neither_adds_nor_loses_a_day(
    first_day, local_time, change_day, hours_on_change
):
    # Check-ins at the same local time every day for 10 days, stored as UTC
    # instants (as the database does) and turned back into local dates.
    instants = [
        datetime.combine(first_day + k * DAY, local_time, NEW_YORK).astimezone(UTC)
        for k in range(10)
    ]
    hours_apart = [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(instants)]
    assert sorted(set(hours_apart)) == sorted({24, hours_on_change})

    days = [local_day(instant, NEW_YORK) for instant in instants]
    today = days[-1]
    records = [checkin(day) for day in days]
    result = abstinence(records, today, recovery_start=days[0])
    assert result.current_streak == 10
    assert result.pda_for(30).days_in_window == 10
    assert adherence(records, today, 7).percent == 100.0

    # Drop the check-in on the day of the change: exactly one day goes missing.
    assert change_day in days
    without = [record for record in records if record.day != change_day]
    result = abstinence(without, today, recovery_start=days[0])
    assert (result.current_streak, result.longest_streak) == (5, 5)
    assert result.pda_for(30).days_in_window == 10
    assert result.pda_for(30).days_reported == 9


def test_26_hours_across_fall_back_can_leave_a_whole_day_between_two_check_ins():
    late_saturday = datetime(2026, 10, 31, 23, 30, tzinfo=NEW_YORK).astimezone(UTC)
    early_monday = datetime(2026, 11, 2, 0, 30, tzinfo=NEW_YORK).astimezone(UTC)
    # 26 hours: a day count from elapsed time would call these neighbours.
    assert early_monday - late_saturday == timedelta(hours=26)
    days = [local_day(late_saturday, NEW_YORK), local_day(early_monday, NEW_YORK)]
    result = abstinence([checkin(day) for day in days], days[1], None)
    assert result.longest_streak == 1  # Sunday 1 November has no check-in


def test_a_patient_who_moves_zone_keeps_each_local_date():
    # The caller passes local dates; this module never converts zones.
    # Evening in Los Angeles, then morning in London: an hour apart in UTC,
    # both on 11 May in UTC, but two local days and so a streak of two.
    in_los_angeles = datetime(2026, 5, 10, 23, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    in_london = datetime(2026, 5, 11, 8, 0, tzinfo=ZoneInfo("Europe/London"))
    assert in_london - in_los_angeles == timedelta(hours=1)
    assert in_los_angeles.astimezone(UTC).date() == in_london.astimezone(UTC).date()

    days = [in_los_angeles.date(), in_london.date()]
    records = [checkin(days[0], craving=6), checkin(days[1], craving=2)]
    assert abstinence(records, days[1], None).current_streak == 2
    assert rolling_mean(records, "craving", days[1], 7).n == 2
    assert rolling_mean(records, "craving", days[1], 7).value == 4.0


# ---------------------------------------------------------------------------
# Direction of a trend
# ---------------------------------------------------------------------------


def rising_by(per_day, metric, days=14, start=3.0):
    """Check-ins whose metric rises exactly ``per_day`` a day up to today."""
    first = TODAY - (days - 1) * DAY
    records = []
    for k in range(days):
        value = start + per_day * k
        fields = {"sleep_hours": value} if metric == "sleep_hours" else {metric: value}
        records.append(checkin(first + k * DAY, **fields))
    return records


def test_fewer_than_four_points_give_no_direction():
    records = rising_by(1.0, "mood")[-(MIN_POINTS_FOR_DIRECTION - 1) :]
    figure = slope(records, "mood", TODAY)
    assert (figure.n, figure.value, figure.direction) == (3, None, None)
    assert slope(rising_by(1.0, "mood")[-4:], "mood", TODAY).direction == "improving"


@pytest.mark.parametrize("metric", METRICS)
def test_a_drift_inside_the_threshold_is_steady(metric):
    just_under = STEADY_THRESHOLD[metric] * 0.9
    assert slope(rising_by(just_under, metric), metric, TODAY).direction == "steady"
    assert slope(rising_by(-just_under, metric), metric, TODAY).direction == "steady"
    assert slope(rising_by(0.0, metric), metric, TODAY).direction == "steady"


@pytest.mark.parametrize(
    ("metric", "per_day", "direction"),
    [
        ("craving", -0.2, "improving"),
        ("craving", +0.2, "worsening"),
        ("mood", +0.2, "improving"),
        ("mood", -0.2, "worsening"),
        ("sleep_hours", +0.1, "improving"),
        ("sleep_hours", -0.1, "worsening"),
    ],
)
def test_improving_means_down_for_craving_and_up_for_mood_and_sleep(metric, per_day, direction):
    figure = slope(rising_by(per_day, metric), metric, TODAY)
    assert figure.value == pytest.approx(per_day)
    assert figure.direction == direction


def test_gaps_are_simply_absent_from_the_fit():
    # Craving 8, 6, 4, 2 on days 0, 2, 8 and 13 of the window: the fit uses
    # each point's own day, not its position in the list.
    first = TODAY - 13 * DAY
    records = [checkin(first + k * DAY, craving=c) for k, c in [(0, 8), (2, 6), (8, 4), (13, 2)]]
    expected = statistics.linear_regression([0, 2, 8, 13], [8, 6, 4, 2]).slope
    assert slope(records, "craving", TODAY).value == pytest.approx(expected, abs=SLOPE)


# ---------------------------------------------------------------------------
# What helps
# ---------------------------------------------------------------------------


def alternating_skill(days_with, days_without):
    """Day pairs where 'exercise' is practised before a craving 2, skipped before a 6.

    A day without a check-in separates the pairs, so each pair counts once.
    """
    records = []
    day = TODAY - 3 * (days_with + days_without) * DAY
    for practised in [True] * days_with + [False] * days_without:
        records.append(checkin(day, skills=("exercise",) if practised else ()))
        records.append(checkin(day + DAY, craving=2 if practised else 6))
        day += 3 * DAY
    return records


def test_what_helps_makes_no_claim_from_four_days():
    [effect] = what_helps(alternating_skill(MIN_DAYS_FOR_WHAT_HELPS - 1, 10), TODAY)
    assert (effect.n_with, effect.n_without) == (4, 10)
    assert (effect.mean_with, effect.mean_without, effect.difference) == (None, None, None)


def test_what_helps_gives_a_figure_from_five_days():
    [effect] = what_helps(alternating_skill(MIN_DAYS_FOR_WHAT_HELPS, 10), TODAY)
    assert (effect.n_with, effect.n_without) == (5, 10)
    assert (effect.mean_with, effect.mean_without, effect.difference) == (2.0, 6.0, -4.0)


def test_what_helps_lists_the_largest_reduction_first_and_thin_skills_last():
    records = []
    day = TODAY - 89 * DAY
    for k in range(30):
        skills = ["meeting"]  # every day: never a "without" side, always thin
        if k % 2 == 0:
            skills.append("urge_surfing")
        if k % 3 == 0:
            skills.append("exercise")
        records.append(checkin(day, skills=tuple(skills)))
        next_craving = 5 - 2 * ("urge_surfing" in skills) - ("exercise" in skills)
        records.append(checkin(day + DAY, craving=next_craving))
        day += 3 * DAY  # a gap day keeps each pair on its own
    effects = what_helps(records, TODAY)
    assert [effect.skill for effect in effects] == ["urge_surfing", "exercise", "meeting"]
    assert effects[0].difference < effects[1].difference < 0
    assert effects[2].difference is None


# ---------------------------------------------------------------------------
# Days before enrolment: counted only when the patient filled them in
# ---------------------------------------------------------------------------


@property_test
@given(patients(), st.integers(-3, 120))
def test_every_share_counts_days_before_enrolment_only_when_reported(patient, enrolled_back):
    records, today, recovery_start = patient
    enrolled_on = today - enrolled_back * DAY
    calendar = calendar_of(records, today)
    trends = patient_trends(records, today, recovery_start, 28, in_treatment_since=enrolled_on)
    shares = [(figure.days, figure) for figure in trends.abstinence.pda]
    shares += [(7, trends.adherence_7), (28, trends.adherence)]
    for days, figure in shares:
        counted = ref_counted_days_enrolled(records, today, days, recovery_start, enrolled_on)
        reported = [day for day in counted if day in calendar]
        assert (figure.days_in_window, figure.days_reported) == (len(counted), len(reported))
    counted_28 = ref_counted_days_enrolled(records, today, 28, recovery_start, enrolled_on)
    for trend in trends.metrics:
        assert trend.missing_days == sum(day not in calendar for day in counted_28)


def test_one_day_filled_in_before_enrolment_presumes_no_use_on_the_days_around_it():
    # Enrolled today, check-ins 20 days ago (filled in late) and today: two
    # days in treatment, both abstinent; the 19 unreported days between came
    # before the patient had the app, and are not presumed use (was 9.5 %).
    records = [checkin(TODAY - 20 * DAY, late=True), checkin(TODAY)]
    pda_30 = abstinence(records, TODAY, in_treatment_since=TODAY).pda_for(30)
    assert (pda_30.days_in_window, pda_30.days_reported, pda_30.days_late) == (2, 2, 1)
    assert (pda_30.missing_as_use, pda_30.missing_excluded) == (100.0, 100.0)


def test_a_patient_enrolled_this_week_with_three_days_filled_in_counts_all_of_them():
    # Enrolled two days ago, checked in since, and filled in the three days
    # before enrolment: five days reported of five in treatment.
    enrolled_on = TODAY - 2 * DAY
    records = every_day(TODAY - 4 * DAY, TODAY)
    figure = adherence(records, TODAY, 7, in_treatment_since=enrolled_on)
    assert (figure.percent, figure.days_reported, figure.days_in_window) == (100.0, 5, 5)
    # Today not yet checked in, and one of the days before enrolment not filled in: 3 of 3.
    records = [checkin(TODAY - 4 * DAY), checkin(TODAY - 2 * DAY), checkin(TODAY - DAY)]
    figure = adherence(records, TODAY, 7, in_treatment_since=enrolled_on)
    assert (figure.percent, figure.days_reported, figure.days_in_window) == (100.0, 3, 3)


def test_days_before_recovery_start_never_count_even_when_filled_in():
    records = every_day(TODAY - 6 * DAY, TODAY)
    figure = adherence(records, TODAY, 7, recovery_start=TODAY - DAY, in_treatment_since=TODAY - 4 * DAY)
    assert (figure.days_reported, figure.days_in_window) == (2, 2)


# ---------------------------------------------------------------------------
# The steady limit itself
# ---------------------------------------------------------------------------


def _code_slope(records, today):
    """The fit as services.trends computes it, in floats, to put a slope exactly on the limit."""
    start = today - 13 * DAY
    xs = [(record.day - start).days for record in records]
    ys = [record.craving for record in records]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sum((x - x_mean) ** 2 for x in xs)


@pytest.mark.parametrize(("metric", "values"), [("craving", (0, 0, 1, 0)), ("mood", (10, 10, 9, 10))])
def test_a_slope_exactly_on_the_steady_limit_is_steady(metric, values):
    # Days 0, 2, 4 and 6 of the window: the fit is exactly 1/20 a day, and in
    # floats exactly the limit's 0.05 (checked below, as the code computes it).
    days = [TODAY - 13 * DAY + offset * DAY for offset in (0, 2, 4, 6)]
    records = [checkin(day, **{metric: value}) for day, value in zip(days, values, strict=False)]
    on_limit = [checkin(day, craving=value) for day, value in zip(days, (0, 0, 1, 0), strict=False)]
    assert _code_slope(on_limit, TODAY) == STEADY_THRESHOLD["craving"]
    figure = slope(records, metric, TODAY)
    assert (abs(figure.value), figure.direction) == (0.05, "steady")


def test_a_slope_just_past_the_steady_limit_has_a_direction():
    days = [TODAY - 13 * DAY + offset * DAY for offset in (0, 2, 4, 6)]
    records = [checkin(day, craving=value) for day, value in zip(days, (0, 0, 1, 1), strict=False)]
    assert _code_slope(records, TODAY) > STEADY_THRESHOLD["craving"]
    assert slope(records, "craving", TODAY).direction == "worsening"


def test_a_sleep_slope_exactly_on_its_limit_is_steady():
    # 0.03 h/day on days 0, 1, 2 and 9 of the window (checked exact in floats).
    days = [TODAY - 13 * DAY + offset * DAY for offset in (0, 1, 2, 9)]
    records = [checkin(day, sleep_hours=hours) for day, hours in zip(days, (4.0, 4.0, 5.5, 4.5), strict=False)]
    start = TODAY - 13 * DAY
    xs = [(record.day - start).days for record in records]
    ys = [record.sleep_hours for record in records]
    x_mean, y_mean = sum(xs) / 4, sum(ys) / 4
    per_day = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sum((x - x_mean) ** 2 for x in xs)
    assert per_day == STEADY_THRESHOLD["sleep_hours"]
    assert slope(records, "sleep_hours", TODAY).direction == "steady"
