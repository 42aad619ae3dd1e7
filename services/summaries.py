"""What the weekly e-mails say, and when each is owed: pure, from records and "now".

No database, no Flask, no clock: callers pass the check-ins, goals and what is
due, and the instant or day to decide for. The jobs load, this module decides,
the templates render.

Weeks and periods
    A week runs Monday to Sunday in the recipient's local calendar (as goals
    do, services.goals). Its period is the ISO week, "2026-W47". A weekly
    e-mail covers the week that has just ended and is owed from the send
    moment after it: by default Monday 08:00 local time. The moment is a wall
    clock time in the recipient's zone, so a DST change moves it in UTC, never
    in the recipient's day, and 08:00 exists on every day of the year.

    The period owed at an instant is the latest week whose send moment has
    passed. A scheduler that was down over a send moment therefore still owes
    that week when it comes back, until the next week's moment replaces it;
    the delivery ledger makes sure it goes out once.

Daily reminders
    Owed on a local day from the recipient's reminder time until
    REMINDER_WINDOW later (never past midnight): a scheduler that comes back
    at 3 a.m. does not send yesterday evening's reminder.

The clinician's weekly digest, how each patient's week went, is services.clinician_digest.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from .trends import (
    LOWER_IS_BETTER,
    DayRecord,
    EarlierCheckins,
    Records,
    abstinence,
    index_checkins,
    week_over_week,
    what_helps,
)

SEND_WEEKDAY = 0  # Monday
SEND_TIME = time(8, 0)
REMINDER_WINDOW = timedelta(hours=3)

# A week-over-week change smaller than this reads "about the same" to the patient.
SAME_WEEK_CHANGE = {"craving": 0.5, "mood": 0.5, "sleep_hours": 0.25}
GREAT_WEEK_CHECKINS = 5
HELPFUL_SKILLS_SHOWN = 3
# The days to the week's end a summary reads row by row: "what helps" looks
# back 90 days, the PDA 30; the streaks reach further (EarlierCheckins).
SUMMARY_DAYS = 90
METRIC_LABELS = {"craving": "Craving", "mood": "Mood", "sleep_hours": "Sleep (hours)"}

_PERIOD = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)

Direction = Literal["better", "worse", "same"]
Tone = Literal["start", "care", "steady", "celebrate"]


# --- periods and send moments ---------------------------------------------------------

def iso_week(day: date) -> str:
    """Return the ISO week period of a day, e.g. "2026-W47"."""
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_start_of_period(period: str) -> date:
    """Return the Monday of an ISO week period; ValueError if it is not one."""
    match = _PERIOD.fullmatch(period)
    if not match:
        raise ValueError(f"not an ISO week such as 2026-W47: {period!r}")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError(f"no such ISO week: {period!r}") from None


def local_instant(day: date, at: time, zone: str) -> datetime:
    """Return the first UTC instant at which the wall clock in zone reads day, at (or later).

    On a fall-back night a time that happens twice is taken the first time;
    a time skipped by a spring-forward change is the moment the clock jumps
    (02:30 on a night that goes from 02:00 to 03:00 is 03:00).
    """
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz).astimezone(timezone.utc)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In the gap: the jump lies between the two readings of the wall time; find its second.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) < wall:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, timezone.utc)


def weekly_send_moment(week_start: date, zone: str, weekday: int = SEND_WEEKDAY,
                       at: time = SEND_TIME) -> datetime:
    """Return when the e-mail for the week starting week_start is owed (UTC)."""
    return local_instant(week_start + timedelta(days=7 + weekday), at, zone)


def latest_owed_week(now: datetime, zone: str, weekday: int = SEND_WEEKDAY,
                     at: time = SEND_TIME) -> date:
    """Return the Monday of the latest week whose send moment has passed at now."""
    local_day = now.astimezone(ZoneInfo(zone)).date()
    week = local_day - timedelta(days=local_day.weekday() + 7)  # last week's Monday
    # At most two steps: the send moment falls within the week after the week it covers.
    while weekly_send_moment(week, zone, weekday, at) > now:
        week -= timedelta(days=7)
    return week


def reminder_day(now: datetime, zone: str, reminder_time: time,
                 window: timedelta = REMINDER_WINDOW) -> date | None:
    """Return the local day a reminder is owed on at now, or None outside the window."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date()
    starts = local_instant(day, reminder_time, zone)
    ends = min(starts + window, local_instant(day + timedelta(days=1), time(0), zone))
    return day if starts <= now < ends else None


def most_common_zone(zones: Iterable[str], default: str = "UTC") -> str:
    """Return the zone most of a caseload lives in (ties: alphabetical), else default."""
    counts = Counter(zones)
    if not counts:
        return default
    return min(counts, key=lambda zone: (-counts[zone], zone))


# --- the patient's weekly summary -----------------------------------------------------------

@dataclass(frozen=True)
class DayBar:
    """One day of the week as the chart draws it."""

    day: date
    checked_in: bool
    craving: int | None = None
    mood: int | None = None
    sleep_hours: float | None = None
    used_substance: bool | None = None


@dataclass(frozen=True)
class MetricWeek:
    """One metric's mean this week against last week."""

    metric: str
    this_week: float | None
    last_week: float | None
    n_this: int
    n_last: int
    change: float | None  # this - last, None unless both weeks have check-ins
    direction: Direction | None  # None unless both weeks have check-ins

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]


@dataclass(frozen=True)
class HelpfulSkill:
    """A coping skill followed by less craving the next day, with the days behind it."""

    code: str
    label: str
    craving_lower_by: float  # points, positive
    days_with: int


@dataclass(frozen=True)
class WeeklySummary:
    """A patient's week in figures, and a line that meets it."""

    period: str
    week_start: date
    week_end: date
    days: tuple[DayBar, ...]  # Monday .. Sunday
    checkins: int
    metrics: tuple[MetricWeek, ...]  # craving, mood, sleep_hours
    days_used: int
    days_abstinent: int
    current_streak: int  # as of the week's last day
    longest_streak: int
    pda_30: float | None  # percent of reported days abstinent over the 30 days to the week's end
    pda_30_days_reported: int
    skills_practised: tuple[tuple[str, int], ...]  # (label, days) this week, most practised first
    skills_that_helped: tuple[HelpfulSkill, ...]
    goals_done: int
    goals_total: int
    questionnaires_due: tuple[str, ...]  # instrument names, due on the day the e-mail goes out
    tone: Tone
    encouragement: str

    @property
    def empty(self) -> bool:
        return self.checkins == 0

    def metric(self, name: str) -> MetricWeek:
        return next(m for m in self.metrics if m.metric == name)


class GoalLike(Protocol):
    """Anything with week_start and done_at (services.goals.GoalRow, WeeklyGoal); read-only, hence properties."""

    @property
    def week_start(self) -> date: ...
    @property
    def done_at(self) -> datetime | None: ...


def build_weekly_summary(
    records: Iterable[DayRecord], week_start: date, *, recovery_start: date | None = None,
    goals: Iterable[GoalLike] = (), questionnaires_due: Sequence[str] = (),
    skill_labels: Mapping[str, str] | None = None, earlier: EarlierCheckins | None = None,
) -> WeeklySummary:
    """Sum up the week starting week_start (a Monday) from the patient's check-ins.

    records may hold the whole history: the streak and "what helps" look
    back further than the week; nothing after the week counts. Or they may
    start SUMMARY_DAYS before the week's end, with earlier summarising the
    older ones (services.trends.EarlierCheckins, with longest_run).
    """
    if week_start.weekday() != 0:
        raise ValueError(f"a week starts on a Monday, not {week_start.isoformat()}")
    week_end = week_start + timedelta(days=6)
    labels = skill_labels or {}
    by_day = {record.day: record for record in records if record.day <= week_end}
    history = list(by_day.values())
    days = tuple(_day_bar(week_start + timedelta(days=offset), by_day) for offset in range(7))
    this_week = [by_day[bar.day] for bar in days if bar.checked_in]
    indexed = index_checkins(history, week_end, earlier)  # once for every figure below
    metrics = tuple(_metric_week(indexed, metric, week_end, earlier) for metric in ("craving", "mood", "sleep_hours"))
    streaks = abstinence(indexed, week_end, recovery_start, earlier=earlier)
    pda_30 = streaks.pda_for(30)
    skill_days = Counter(skill for record in this_week for skill in record.coping_skills)
    practised = tuple((labels.get(code, _humanise(code)), count)
                      for code, count in sorted(skill_days.items(), key=lambda item: (-item[1], item[0])))
    helped = tuple(
        HelpfulSkill(effect.skill, labels.get(effect.skill, _humanise(effect.skill)),
                     round(-effect.difference, 1), effect.n_with)
        for effect in what_helps(indexed, week_end, 90, earlier=earlier)
        if effect.difference is not None and effect.difference < 0
    )[:HELPFUL_SKILLS_SHOWN]
    week_goals = [goal for goal in goals if goal.week_start == week_start]
    days_used = sum(1 for record in this_week if record.used_substance)
    tone, line = encouragement(len(this_week), days_used, metrics, streaks.current_streak)
    return WeeklySummary(
        period=iso_week(week_start), week_start=week_start, week_end=week_end, days=days,
        checkins=len(this_week), metrics=metrics, days_used=days_used,
        days_abstinent=len(this_week) - days_used, current_streak=streaks.current_streak,
        longest_streak=streaks.longest_streak, pda_30=pda_30.missing_excluded,
        pda_30_days_reported=pda_30.days_reported, skills_practised=practised, skills_that_helped=helped,
        goals_done=sum(1 for goal in week_goals if goal.done_at is not None), goals_total=len(week_goals),
        questionnaires_due=tuple(questionnaires_due), tone=tone, encouragement=line,
    )


def encouragement(checkins: int, days_used: int, metrics: Sequence[MetricWeek],
                  current_streak: int) -> tuple[Tone, str]:
    """Return a line that matches the week: care for a hard one, warmth for a good one."""
    if checkins == 0:
        return "start", (
            "We didn't hear from you this week, and that's okay. Picking back up is what counts: "
            "one check-in takes under a minute, and your care team is there if you need them."
        )
    if days_used:
        return "care", (
            "This week had some hard days. A slip doesn't undo the work you've put in; it's "
            "something to learn from, not a verdict. Consider telling your care team or a sober "
            "support how this week went; reaching out is a strength."
        )
    if any(m.direction == "worse" for m in metrics if m.metric in ("craving", "mood")):
        return "care", (
            "This looks like a tougher week, and you stayed with it and kept checking in. "
            "Be gentle with yourself, and lean on the skills and people that help."
        )
    if checkins >= GREAT_WEEK_CHECKINS:
        streak = f" and a streak of {current_streak} days" if current_streak >= 7 else ""
        return "celebrate", (
            f"A strong week: {checkins} check-ins, no use on any day you checked in{streak}. "
            "Keep doing what's working."
        )
    return "steady", (
        f"Thanks for checking in {_times(checkins)} this week. Every check-in helps you and "
        "your care team see what's working."
    )


def _day_bar(day: date, by_day: Mapping[date, DayRecord]) -> DayBar:
    record = by_day.get(day)
    if record is None:
        return DayBar(day, False)
    return DayBar(day, True, record.craving, record.mood, record.sleep_hours, record.used_substance)


def _metric_week(records: Records, metric: str, week_end: date,
                 earlier: EarlierCheckins | None = None) -> MetricWeek:
    change = week_over_week(records, metric, week_end, earlier=earlier)
    direction: Direction | None = None
    if change.value is not None:
        if abs(change.value) < SAME_WEEK_CHANGE[metric]:
            direction = "same"
        else:
            went_down = change.value < 0
            direction = "better" if went_down == (metric in LOWER_IS_BETTER) else "worse"
    return MetricWeek(metric, change.mean_this, change.mean_last, change.n_this, change.n_last,
                      change.value, direction)


def _humanise(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")
