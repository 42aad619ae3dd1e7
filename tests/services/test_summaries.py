"""The weekly figures, the line that meets the week, and when each e-mail is owed (pure)."""
from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.summaries import (
    build_weekly_summary,
    iso_week,
    latest_owed_week,
    local_instant,
    most_common_zone,
    reminder_day,
    week_start_of_period,
    weekly_send_moment,
)
from services.trends import DayRecord

W47 = date(2026, 11, 16)  # Monday of 2026-W47


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def day(offset: int, craving=3, mood=6, sleep=7.0, used=False, skills=()) -> DayRecord:
    return DayRecord(W47 + timedelta(days=offset), craving, mood, sleep, used, tuple(skills))


def week(offset_weeks: int, **fields) -> list[DayRecord]:
    return [day(7 * offset_weeks + d, **fields) for d in range(7)]


# --- periods and moments ---------------------------------------------------------------

def test_periods_are_iso_weeks():
    assert iso_week(W47) == "2026-W47"
    assert iso_week(date(2026, 11, 22)) == "2026-W47"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert week_start_of_period("2026-W47") == W47
    assert week_start_of_period("2026-W53") == date(2026, 12, 28)


@pytest.mark.parametrize("period", ["2026-47", "2026-W7", "2025-W53", "2026-W00", "W47", "2026-W47-1", ""])
def test_a_period_that_is_not_an_iso_week_is_refused(period):
    with pytest.raises(ValueError):
        week_start_of_period(period)


@pytest.mark.parametrize(("zone", "moment"), [
    ("UTC", "2026-11-23T08:00:00"),
    ("America/New_York", "2026-11-23T13:00:00"),  # EST, UTC-5
    ("Asia/Kolkata", "2026-11-23T02:30:00"),  # IST, UTC+5:30
])
def test_the_week_is_owed_from_monday_0800_where_the_patient_lives(zone, moment):
    send = weekly_send_moment(W47, zone)
    assert send == utc(moment)
    assert latest_owed_week(send, zone) == W47
    assert latest_owed_week(send - timedelta(seconds=1), zone) == W47 - timedelta(days=7)
    # Owed all week long until the next Monday's moment takes over.
    assert latest_owed_week(send + timedelta(days=6, hours=23), zone) == W47
    assert latest_owed_week(send + timedelta(days=7), zone) == W47 + timedelta(days=7)


def test_the_send_moment_follows_the_wall_clock_across_the_dst_change():
    # New York leaves daylight time on Sunday 2026-11-01: the W44 summary goes at
    # 08:00 EST (13:00 UTC), the W43 one at 08:00 EDT (12:00 UTC).
    assert weekly_send_moment(date(2026, 10, 19), "America/New_York") == utc("2026-10-26T12:00:00")
    assert weekly_send_moment(date(2026, 10, 26), "America/New_York") == utc("2026-11-02T13:00:00")
    assert latest_owed_week(utc("2026-11-02T12:30:00"), "America/New_York") == date(2026, 10, 19)


def test_a_reminder_is_owed_from_its_time_for_a_few_hours_never_past_midnight():
    at = time(19, 0)
    assert reminder_day(utc("2026-11-23T23:59:00"), "America/New_York", at) is None  # 18:59 local
    assert reminder_day(utc("2026-11-24T00:00:00"), "America/New_York", at) == date(2026, 11, 23)
    assert reminder_day(utc("2026-11-24T02:59:00"), "America/New_York", at) == date(2026, 11, 23)
    assert reminder_day(utc("2026-11-24T03:00:00"), "America/New_York", at) is None  # 22:00 local
    late = time(23, 0)
    assert reminder_day(utc("2026-11-23T23:30:00"), "UTC", late) == date(2026, 11, 23)
    assert reminder_day(utc("2026-11-24T00:30:00"), "UTC", late) is None  # the next day, before its time


def test_the_busiest_zone_of_a_caseload_decides_a_clinicians_week():
    assert most_common_zone(["Asia/Kolkata", "America/New_York", "America/New_York"]) == "America/New_York"
    assert most_common_zone(["UTC", "Asia/Kolkata"]) == "Asia/Kolkata"  # a tie: alphabetical
    assert most_common_zone([]) == "UTC"


# --- the patient's week -----------------------------------------------------------------

def test_a_great_week_is_celebrated_with_its_figures():
    records = (week(-1, craving=5, mood=5, sleep=6.0)
               + week(0, craving=2, mood=8, sleep=7.5, skills=["urge_surfing"]))
    summary = build_weekly_summary(records, W47, skill_labels={"urge_surfing": "Urge surfing"})
    assert summary.period == "2026-W47" and summary.week_end == date(2026, 11, 22)
    assert summary.checkins == 7 and summary.days_used == 0 and summary.days_abstinent == 7
    assert summary.current_streak == 14 and summary.longest_streak == 14
    assert summary.pda_30 == 100.0 and summary.pda_30_days_reported == 14
    craving, mood, sleep = summary.metrics
    assert (craving.this_week, craving.last_week, craving.direction) == (2.0, 5.0, "better")
    assert (mood.this_week, mood.last_week, mood.direction) == (8.0, 5.0, "better")
    assert (sleep.change, sleep.direction) == (1.5, "better")
    assert summary.skills_practised == (("Urge surfing", 7),)
    assert summary.tone == "celebrate" and "14 days" in summary.encouragement


def test_a_relapse_week_is_met_with_care_not_cheer():
    records = [*week(-1), day(0), day(1), day(2, craving=9, mood=2, used=True), day(3, craving=8, used=True)]
    summary = build_weekly_summary(records, W47)
    assert summary.checkins == 4 and summary.days_used == 2 and summary.current_streak == 0
    assert summary.tone == "care"
    assert "hard days" in summary.encouragement and "!" not in summary.encouragement
    assert "strong week" not in summary.encouragement


def test_an_empty_week_invites_without_blame():
    summary = build_weekly_summary(week(-2), W47)
    assert summary.empty and summary.checkins == 0
    assert all(not bar.checked_in for bar in summary.days)
    assert all(metric.this_week is None and metric.direction is None for metric in summary.metrics)
    assert summary.tone == "start" and "that's okay" in summary.encouragement


def test_a_harder_week_without_use_is_met_with_care():
    summary = build_weekly_summary(week(-1, craving=2, mood=7) + week(0, craving=6, mood=3), W47)
    assert summary.metric("craving").direction == "worse" and summary.tone == "care"


def test_small_changes_read_about_the_same():
    summary = build_weekly_summary(week(-1, craving=3) + week(0, craving=3) [:3], W47)
    assert summary.metric("craving").direction == "same"
    assert summary.tone == "steady" and "3 times" in summary.encouragement


def test_only_the_week_counts_and_later_days_are_ignored():
    records = [*week(0, used=False), day(7, used=True), day(8, used=True)]
    summary = build_weekly_summary(records, W47)
    assert summary.days_used == 0 and summary.current_streak == 7


def test_goals_and_skills_that_helped_come_from_the_records():
    from services.goals import GoalRow

    # Twelve weeks of history where journaling days are followed by lower craving.
    records = []
    for offset in range(-84, 7):
        journaled = offset % 2 == 0
        records.append(DayRecord(W47 + timedelta(days=offset), 3 if not journaled else 6,
                                 6, 7.0, False, ("journaling",) if journaled else ()))
    goals = [GoalRow(1, 9, W47, "Walk", datetime(2026, 11, 18, tzinfo=timezone.utc)),
             GoalRow(2, 9, W47, "Call", None), GoalRow(3, 9, W47 - timedelta(days=7), "Old", None)]
    summary = build_weekly_summary(records, W47, goals=goals, questionnaires_due=["PHQ-9"],
                                   skill_labels={"journaling": "Journaling"})
    assert (summary.goals_done, summary.goals_total) == (1, 2)
    assert summary.questionnaires_due == ("PHQ-9",)
    assert [s.label for s in summary.skills_that_helped] == ["Journaling"]
    assert summary.skills_that_helped[0].craving_lower_by == 3.0


def test_a_week_starts_on_monday():
    with pytest.raises(ValueError):
        build_weekly_summary([], W47 + timedelta(days=1))


def test_a_wall_time_skipped_in_spring_is_the_moment_the_clock_jumps():
    assert local_instant(date(2026, 3, 8), time(2, 30), "America/New_York") == utc("2026-03-08T07:00:00")
    assert local_instant(date(2026, 3, 8), time(3, 0), "America/New_York") == utc("2026-03-08T07:00:00")
    assert local_instant(date(2026, 11, 1), time(1, 30), "America/New_York") == utc("2026-11-01T05:30:00")
