"""A patient's small weekly goals: set a few for this week, tick them off.

Weeks
    A week runs Monday to Sunday in the patient's local calendar: the
    patient's IANA zone decides what "today" is (services.days.local_today),
    and a goal belongs to the week it was set in, keyed by that Monday
    (``WeeklyGoal.week_start``).

What may change when
    * Goals are added to the current week only, at most ``GOALS_PER_WEEK``:
      a few small goals get kept, a long list gets abandoned. Adding a goal
      whose text the week already has (ignoring case and surrounding space)
      returns the one already there, so a phone's retry never makes a copy.
    * A goal's text may be changed, and the goal deleted, during its own week.
    * ``done`` may be set or cleared during the goal's own week and for
      ``GRACE_DAYS`` days after it (Monday and Tuesday): a goal finished on
      Sunday night is often ticked off at the first group of the next week.
      After that the week is closed and its completion is history.

Who reads them
    The patient reads their own weeks; ``goal_history`` serves the care
    team, admins of the organization and the patient themself
    (``patient_in_reach``: anyone else is told the patient does not exist).

Completion
    A goal is done when it has a ``done_at``. ``rate = done / total``; None for a week without goals (no goals is not
    0 %). Rates are shares 0..1, unrounded; the API answers percentages.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select

from models import User, WeeklyGoal, db
from models.caseload import lock_patient

from .access import own_profile, patient_in_reach
from .days import local_today
from .errors import Conflict, InvalidInput, NotFound

GOALS_PER_WEEK = 5
GRACE_DAYS = 2
WEEK = timedelta(days=7)


class GoalLike(Protocol):
    """A goal as the weekly figures read it: a WeeklyGoal or a GoalRow (read-only, hence properties)."""

    @property
    def week_start(self) -> date: ...
    @property
    def done_at(self) -> datetime | None: ...


class GoalRow(NamedTuple):
    """A goal as the multi-patient loader returns it (no ORM identity)."""

    id: int
    patient_id: int
    week_start: date
    text: str
    done_at: datetime | None


@dataclass(frozen=True)
class WeekCompletion:
    """How many of one week's goals were done."""

    week_start: date
    done: int
    total: int
    rate: float | None = field(init=False)  # done / total, 0..1; None when the week has no goals

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", self.done / self.total if self.total else None)

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)


@dataclass(frozen=True)
class GoalWeek:
    """One week's goals as the patient (or the care team) sees them."""

    completion: WeekCompletion
    goals: list[WeeklyGoal]
    current: bool  # the patient's current week

    @property
    def week_start(self) -> date:
        return self.completion.week_start

    @property
    def week_end(self) -> date:
        return self.completion.week_end

    @property
    def open_until(self) -> date:
        """The last local day on which this week's goals can be marked done."""
        return self.week_end + timedelta(days=GRACE_DAYS)


@dataclass(frozen=True)
class GoalHistory:
    """A patient's recent weeks of goals, oldest first."""

    patient_id: int
    weeks: list[GoalWeek]

    @property
    def done(self) -> int:
        return sum(week.completion.done for week in self.weeks)

    @property
    def total(self) -> int:
        return sum(week.completion.total for week in self.weeks)

    @property
    def rate(self) -> float | None:
        """done / total over all the weeks, 0..1; None without goals."""
        return self.done / self.total if self.total else None


@dataclass(frozen=True)
class GoalWrite:
    goal: WeeklyGoal
    created: bool


# --- pure ------------------------------------------------------------------

def week_start_of(day: date) -> date:
    """Return the Monday of day's week."""
    return day - timedelta(days=day.weekday())


def week_starts(today: date, weeks: int) -> list[date]:
    """Return the Mondays of the `weeks` weeks ending with today's, oldest first."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    current = week_start_of(today)
    return [current - WEEK * back for back in range(weeks - 1, -1, -1)]


def weekly_completion(goals: Iterable[GoalLike], today: date, weeks: int) -> list[WeekCompletion]:
    """Return done/total for each of the `weeks` weeks ending with today's, oldest first.

    Goals outside those weeks are ignored; a goal counts as done when it has a done_at.
    """
    starts = week_starts(today, weeks)
    done = dict.fromkeys(starts, 0)
    total = dict.fromkeys(starts, 0)
    for goal in goals:
        week = week_start_of(goal.week_start)
        if week in total:
            total[week] += 1
            done[week] += goal.done_at is not None
    return [WeekCompletion(start, done[start], total[start]) for start in starts]


# --- the patient's own goals -------------------------------------------------

def goal_week(patient: User, day: date | None, now: datetime) -> GoalWeek:
    """Return the goals of the week holding day (default: the patient's current week)."""
    today = _today(patient, now)
    current = week_start_of(today)
    week = week_start_of(day) if day is not None else current
    if week > current:
        raise InvalidInput("That week has not started.",
                           {"week": ["Goals are set for the current week; later weeks have none yet."]})
    goals = _goals_between(patient.id, week, week)
    return GoalWeek(weekly_completion(goals, week, 1)[0], goals, week == current)


def add_goal(patient: User, text: str, now: datetime) -> GoalWrite:
    """Add a goal to the patient's current week (or return the same goal set a moment ago)."""
    text = text.strip()
    week = week_start_of(_today(patient, now))
    # Two phones adding at once queue here (on SQLite, two processes too), so
    # the cap and the retry check each see the other's goal.
    lock_patient(patient.id)
    goals = _goals_between(patient.id, week, week)
    for goal in goals:
        if goal.text.casefold() == text.casefold():
            return GoalWrite(goal, created=False)
    if len(goals) >= GOALS_PER_WEEK:
        raise Conflict(
            f"This week already has {GOALS_PER_WEEK} goals. Keep to a few small goals: "
            "finish or delete one before adding another."
        )
    goal = WeeklyGoal(patient_id=patient.id, week_start=week, text=text, created_at=now)
    db.session.add(goal)
    db.session.flush()
    return GoalWrite(goal, created=True)


def update_goal(patient: User, goal_id: int, changes: dict[str, Any], now: datetime) -> WeeklyGoal:
    """Mark one of the patient's goals done or not done, and/or reword it."""
    goal = _own_goal(patient, goal_id)
    today = _today(patient, now)
    week_end = goal.week_start + timedelta(days=6)
    if "text" in changes and today > week_end:
        raise Conflict("A goal can only be reworded during its own week.")
    if "done" in changes and today > week_end + timedelta(days=GRACE_DAYS):
        raise Conflict(
            f"This week is closed: its goals could be marked until "
            f"{(week_end + timedelta(days=GRACE_DAYS)).isoformat()}."
        )
    if "text" in changes:
        goal.text = changes["text"].strip()
    if changes.get("done") is True and goal.done_at is None:
        goal.done_at = now
    elif changes.get("done") is False:
        goal.done_at = None
    db.session.flush()
    return goal


def delete_goal(patient: User, goal_id: int, now: datetime) -> None:
    """Delete one of the patient's goals of the current week."""
    goal = _own_goal(patient, goal_id)
    if _today(patient, now) > goal.week_start + timedelta(days=6):
        raise Conflict("Only the current week's goals can be deleted; past weeks are history.")
    db.session.delete(goal)
    db.session.flush()


# --- the care team's view ----------------------------------------------------

def goal_history(actor: User, patient_id: int, weeks: int, now: datetime) -> GoalHistory:
    """Return the patient's last `weeks` weeks of goals, oldest first, each with its completion."""
    profile = patient_in_reach(actor, patient_id)
    today = local_today(now, profile.timezone)
    starts = week_starts(today, weeks)
    goals = _goals_between(profile.user_id, starts[0], starts[-1])
    by_week: dict[date, list[WeeklyGoal]] = {start: [] for start in starts}
    for goal in goals:
        by_week[goal.week_start].append(goal)
    return GoalHistory(profile.user_id, [
        GoalWeek(completion, by_week[completion.week_start], completion.week_start == starts[-1])
        for completion in weekly_completion(goals, today, weeks)
    ])


def goals_by_patient(patient_ids: Iterable[int], since: date) -> dict[int, list[GoalRow]]:
    """Return each patient's goals from the week holding since onwards, in one query.

    Every id asked for has an entry (an empty list when there are no goals);
    each list is ordered by week, then by when the goal was set.
    """
    ids = list(dict.fromkeys(patient_ids))
    goals: dict[int, list[GoalRow]] = {patient_id: [] for patient_id in ids}
    if not ids:
        return goals
    rows = db.session.execute(
        select(WeeklyGoal.id, WeeklyGoal.patient_id, WeeklyGoal.week_start, WeeklyGoal.text,
               WeeklyGoal.done_at)
        .where(WeeklyGoal.patient_id.in_(ids), WeeklyGoal.week_start >= week_start_of(since))
        .order_by(WeeklyGoal.patient_id, WeeklyGoal.week_start, WeeklyGoal.id)
    )
    for row in rows:
        goals[row.patient_id].append(GoalRow(*row))
    return goals


# --- helpers -------------------------------------------------------------------

def _today(patient: User, now: datetime) -> date:
    return local_today(now, own_profile(patient).timezone)


def _goals_between(patient_id: int, first_week: date, last_week: date) -> list[WeeklyGoal]:
    return list(db.session.scalars(
        select(WeeklyGoal)
        .where(WeeklyGoal.patient_id == patient_id,
               WeeklyGoal.week_start >= first_week, WeeklyGoal.week_start <= last_week)
        .order_by(WeeklyGoal.week_start, WeeklyGoal.id)
    ))


def _own_goal(patient: User, goal_id: int) -> WeeklyGoal:
    goal = db.session.scalars(
        select(WeeklyGoal).where(WeeklyGoal.id == goal_id, WeeklyGoal.patient_id == patient.id)
    ).one_or_none()
    if goal is None:
        raise NotFound("No such goal.")
    return goal


