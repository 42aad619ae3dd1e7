"""Abstinence and engagement: streaks, percent days abstinent (PDA) and check-in adherence."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .checkins import (
    CheckinIndex,
    Counting,
    EarlierCheckins,
    Flat,
    Records,
    counting_start,
    indexed,
    percent_of,
)

PDA_WINDOWS = (7, 30, 90)


@dataclass(frozen=True)
class PdaFigure(Flat):
    """Percent days abstinent over the last ``days`` days, both conventions."""

    days: int
    missing_as_use: float | None  # days_abstinent / days_in_window, 0-100
    missing_excluded: float | None  # days_abstinent / days_reported, 0-100
    days_abstinent: int
    days_reported: int
    days_in_window: int  # days in treatment within the window (see module doc)
    days_late: int  # reported days filled in late


@dataclass(frozen=True)
class Abstinence:
    """Streaks, PDA over 7/30/90 days, and days since recovery start."""

    current_streak: int
    longest_streak: int
    pda: tuple[PdaFigure, ...]  # one per PDA_WINDOWS, in that order
    days_since_recovery_start: int | None

    def pda_for(self, days: int) -> PdaFigure:
        """Return the PDA figure for a window of ``days`` days."""
        for figure in self.pda:
            if figure.days == days:
                return figure
        raise KeyError(days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_streak": self.current_streak,
            "longest_streak": self.longest_streak,
            "pda": {str(figure.days): figure.to_dict() for figure in self.pda},
            "days_since_recovery_start": self.days_since_recovery_start,
        }


@dataclass(frozen=True)
class AdherenceFigure(Flat):
    """Share of days in treatment with a check-in over the last ``days`` days."""

    days: int
    percent: float | None  # 0-100, None when days_in_window == 0
    days_reported: int
    days_in_window: int
    days_late: int


def abstinence(
    records: Records, today: date, recovery_start: date | None = None,
    *, earlier: EarlierCheckins | None = None, in_treatment_since: date | None = None,
) -> Abstinence:
    """Compute abstinence streaks, PDA over 7/30/90 days and days in recovery.

    The current streak ends today, or yesterday while today has no check-in
    yet. A day without a check-in breaks a streak (we do not know), as does a
    day with use.
    """
    checkins = indexed(records, today, earlier)
    return _abstinence(checkins, counting_start(recovery_start, in_treatment_since), recovery_start)


def current_streak(
    records: Records, today: date, *, earlier: EarlierCheckins | None = None
) -> int:
    """Return the current abstinence streak alone (as ``abstinence`` counts it)."""
    return _current_streak(indexed(records, today, earlier))


def last_checkin(
    records: Records, today: date, *, earlier: EarlierCheckins | None = None
) -> date | None:
    """Return the day of the latest check-in up to today."""
    return indexed(records, today, earlier).last_day


def adherence(
    records: Records,
    today: date,
    days: int,
    *,
    recovery_start: date | None = None,
    earlier: EarlierCheckins | None = None,
    in_treatment_since: date | None = None,
) -> AdherenceFigure:
    """Compute the share of days in treatment with a check-in."""
    checkins = indexed(records, today, earlier)
    return _adherence(checkins, days, counting_start(recovery_start, in_treatment_since))


def _longest_run(days: set[date]) -> int:
    """Return the longest run of consecutive dates in ``days``, in O(len(days))."""
    one = timedelta(days=1)
    longest = 0
    for day in days:
        if day - one in days:
            continue  # not the start of a run; its start will count it
        length = 1
        while day + length * one in days:
            length += 1
        longest = max(longest, length)
    return longest


def _abstinent_days(checkins: CheckinIndex) -> set[date]:
    return {day for day, record in checkins.by_day.items() if not record.used_substance}


def _current_streak(checkins: CheckinIndex, abstinent_days: set[date] | None = None) -> int:
    if abstinent_days is None:
        abstinent_days = _abstinent_days(checkins)
    one = timedelta(days=1)
    today = checkins.today
    day = today if today in checkins.by_day else today - one
    current = 0
    while day in abstinent_days:
        current += 1
        day -= one
    earlier = checkins.earlier
    if earlier is not None and day < earlier.before:
        # Every loaded day back to the window's start was abstinent: the
        # streak goes on into the days before it.
        current += earlier.run
    return current


def _longest_streak(checkins: CheckinIndex, abstinent_days: set[date]) -> int:
    longest = _longest_run(abstinent_days)
    earlier = checkins.earlier
    if earlier is None:
        return longest
    if earlier.longest_run is None:
        raise ValueError("the longest streak needs EarlierCheckins.longest_run")
    # The run that starts on the window's first day continues the earlier one.
    one = timedelta(days=1)
    joined, day = earlier.run, earlier.before
    while day in abstinent_days:
        joined += 1
        day += one
    return max(longest, earlier.longest_run, joined)


def _abstinence(checkins: CheckinIndex, counting: Counting, recovery_start: date | None) -> Abstinence:
    abstinent_days = _abstinent_days(checkins)
    today = checkins.today
    current = _current_streak(checkins, abstinent_days)

    pda = []
    for days in PDA_WINDOWS:
        first, last, days_in_window = checkins.treatment_span(days, counting)
        reported = [
            record for record in checkins.by_day.values() if first <= record.day <= last
        ]
        abstinent = sum(not record.used_substance for record in reported)
        pda.append(
            PdaFigure(
                days=days,
                missing_as_use=percent_of(abstinent, days_in_window),
                missing_excluded=percent_of(abstinent, len(reported)),
                days_abstinent=abstinent,
                days_reported=len(reported),
                days_in_window=days_in_window,
                days_late=sum(record.late for record in reported),
            )
        )
    return Abstinence(
        current_streak=current,
        longest_streak=_longest_streak(checkins, abstinent_days),
        pda=tuple(pda),
        days_since_recovery_start=(
            (today - recovery_start).days if recovery_start is not None else None
        ),
    )


def _adherence(checkins: CheckinIndex, days: int, counting: Counting) -> AdherenceFigure:
    first, last, days_in_window = checkins.treatment_span(days, counting)
    reported = [
        record for record in checkins.by_day.values() if first <= record.day <= last
    ]
    return AdherenceFigure(
        days=days,
        percent=percent_of(len(reported), days_in_window),
        days_reported=len(reported),
        days_in_window=days_in_window,
        days_late=sum(record.late for record in reported),
    )
