"""Figures from a loaded window plus EarlierCheckins equal the figures from the whole history.

The caseload and the weekly summaries read only the days their figures need
and learn the rest (streaks, the last and first check-in) from a summary of
the older check-ins. Every figure computed that way must be exactly the one
computed from the whole history; the summary here is worked out by a
day-by-day walk, independently of the SQL that builds it in production
(tests/services/test_checkin_loaders.py checks that SQL against this walk).
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.risk import assess_risk
from services.summaries import SUMMARY_DAYS, build_weekly_summary
from services.trends import (
    METRICS,
    DayRecord,
    EarlierCheckins,
    abstinence,
    adherence,
    current_streak,
    index_checkins,
    last_checkin,
    patient_trends,
    rolling_mean,
    slope,
    week_over_week,
    what_helps,
)
from tests.services.test_trends import patients, property_test

DAY = timedelta(days=1)


def earlier_by_walking(records: list[DayRecord], before: date, *, longest: bool = True) -> EarlierCheckins:
    """Summarise the check-ins before `before` by walking the calendar one day at a time."""
    older = {record.day: record for record in records if record.day < before}
    if not older:
        return EarlierCheckins(before, None, None, 0, 0 if longest else None)
    abstinent = {day for day, record in older.items() if not record.used_substance}
    run, day = 0, before - DAY
    while day in abstinent:
        run, day = run + 1, day - DAY
    best = current = 0
    day = min(older)
    while day < before:
        current = current + 1 if day in abstinent else 0
        best = max(best, current)
        day += DAY
    return EarlierCheckins(before, min(older), max(older), run, best if longest else None)


def window_of(records: list[DayRecord], before: date) -> list[DayRecord]:
    return [record for record in records if record.day >= before]


@property_test
@given(patients(), st.integers(89, 200), st.integers(1, 90))
def test_the_trends_section_from_a_window_is_the_trends_section_from_the_whole_history(patient, back, window):
    records, today, recovery_start = patient
    before = today - back * DAY
    earlier = earlier_by_walking(records, before)
    windowed = window_of(records, before)

    assert patient_trends(windowed, today, recovery_start, window, earlier=earlier).to_dict() == \
        patient_trends(records, today, recovery_start, window).to_dict()
    assert abstinence(windowed, today, recovery_start, earlier=earlier) == abstinence(records, today, recovery_start)
    assert what_helps(windowed, today, 90, earlier=earlier) == what_helps(records, today, 90)


@property_test
@given(patients(), st.integers(13, 60), st.booleans())
def test_the_caseload_figures_from_two_weeks_are_those_from_the_whole_history(patient, back, enrolled):
    records, today, recovery_start = patient
    before = today - back * DAY
    earlier = earlier_by_walking(records, before, longest=False)
    windowed = window_of(records, before)
    since = recovery_start if enrolled else None
    # Records after today are part of a real history (a zone change) and are ignored either way.
    harm = sorted({record.day for record in records if record.craving == 10})

    assert current_streak(windowed, today, earlier=earlier) == abstinence(records, today).current_streak
    assert last_checkin(windowed, today, earlier=earlier) == max(
        (record.day for record in records if record.day <= today), default=None)
    for metric in METRICS:
        assert rolling_mean(windowed, metric, today, 7, earlier=earlier) == rolling_mean(records, metric, today, 7)
        assert slope(windowed, metric, today, earlier=earlier) == slope(records, metric, today)
    assert adherence(windowed, today, 7, recovery_start=since, earlier=earlier) == \
        adherence(records, today, 7, recovery_start=since)
    assert assess_risk(windowed, today, self_harm_days=harm, in_treatment_since=since, earlier=earlier) == \
        assess_risk(records, today, self_harm_days=harm, in_treatment_since=since)


@property_test
@given(patients(), st.integers(0, 40), st.integers(0, 60))
def test_a_weekly_summary_from_its_90_days_is_the_summary_from_the_whole_history(patient, weeks_back, extra):
    records, today, recovery_start = patient
    week_start = today - (today.weekday() + 7 * weeks_back) * DAY
    before = week_start + 6 * DAY - (SUMMARY_DAYS - 1 + extra) * DAY
    earlier = earlier_by_walking(records, before)

    assert build_weekly_summary(window_of(records, before), week_start, recovery_start=recovery_start,
                                earlier=earlier) == \
        build_weekly_summary(records, week_start, recovery_start=recovery_start)


@property_test
@given(patients())
def test_an_index_stands_in_for_the_records_for_the_same_day(patient):
    records, today, recovery_start = patient
    indexed = index_checkins(records, today)

    assert abstinence(indexed, today, recovery_start) == abstinence(records, today, recovery_start)
    for metric in METRICS:
        assert week_over_week(indexed, metric, today) == week_over_week(records, metric, today)


def test_a_window_that_would_need_unloaded_days_is_refused_not_guessed():
    today = date(2026, 11, 23)
    earlier = EarlierCheckins(today - 13 * DAY, None, None, 0, None)
    records = [DayRecord(today - k * DAY, 3, 6, 7.0, False) for k in range(14)]

    assert slope(records, "craving", today, earlier=earlier).n == 14  # 14 days: loaded
    with pytest.raises(ValueError, match="were not loaded"):
        rolling_mean(records, "craving", today, 28, earlier=earlier)
    with pytest.raises(ValueError, match="were not loaded"):
        abstinence(records, today, earlier=earlier)  # PDA over 90 days
    with pytest.raises(ValueError, match="longest_run"):
        abstinence(records, today, earlier=EarlierCheckins(today - 89 * DAY))
    with pytest.raises(ValueError, match="another day"):
        rolling_mean(index_checkins(records, today), "craving", today - DAY, 7)
    with pytest.raises(ValueError):
        current_streak(records, today, earlier=EarlierCheckins(today + DAY))


def test_a_streak_that_began_before_the_window_counts_every_day():
    today = date(2026, 11, 23)
    before = today - 13 * DAY
    recent = [DayRecord(today - k * DAY, 3, 6, 7.0, False) for k in range(1, 14)]  # not today yet
    earlier = EarlierCheckins(before, date(2025, 1, 1), before - DAY, run=200, longest_run=250)

    assert current_streak(recent, today, earlier=earlier) == 213
    assert last_checkin([], today, earlier=earlier) == before - DAY
    # One day of use inside the window ends it there.
    relapse = [*recent[:5], DayRecord(today - 6 * DAY, 3, 6, 7.0, True), *recent[6:]]
    assert current_streak(relapse, today, earlier=earlier) == 5
