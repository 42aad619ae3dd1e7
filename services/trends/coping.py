"""Coping skills: how often each was practised, and "what helps" (next-day craving with and without)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .checkins import CheckinIndex, EarlierCheckins, Flat, Records, indexed, rounded

MIN_DAYS_FOR_WHAT_HELPS = 5


@dataclass(frozen=True)
class SkillCount(Flat):
    """How many days a coping skill was practised in the window."""

    skill: str
    days: int


@dataclass(frozen=True)
class SkillEffect(Flat):
    """Mean next-day craving after practising a skill versus after not.

    The means and the difference are None when either side rests on fewer
    than MIN_DAYS_FOR_WHAT_HELPS day pairs: no claim where the data are thin.
    A negative difference means less craving the day after practising.
    """

    skill: str
    mean_with: float | None
    mean_without: float | None
    difference: float | None  # mean_with - mean_without
    n_with: int
    n_without: int


def coping_skill_frequency(
    records: Records, today: date, days: int,
    *, earlier: EarlierCheckins | None = None,
) -> list[SkillCount]:
    """Count the days each coping skill was practised, most practised first."""
    return _coping_skill_frequency(indexed(records, today, earlier), days)


def what_helps(
    records: Records, today: date, days: int = 90,
    *, earlier: EarlierCheckins | None = None,
) -> list[SkillEffect]:
    """Compare next-day craving after days with and without each skill.

    Only day pairs (d, d+1) with a check-in on both days, both in the window,
    count. Skills with a figure come first, largest craving reduction first;
    thin ones follow, the closest to a figure first.
    """
    return _what_helps(indexed(records, today, earlier), days)


def _coping_skill_frequency(checkins: CheckinIndex, days: int) -> list[SkillCount]:
    counts: dict[str, int] = {}
    for record in checkins.in_window(days):
        for skill in set(record.coping_skills):
            counts[skill] = counts.get(skill, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [SkillCount(skill=skill, days=count) for skill, count in ranked]


def _what_helps(checkins: CheckinIndex, days: int) -> list[SkillEffect]:
    one = timedelta(days=1)
    window = checkins.in_window(days)
    # Every pair's next-day craving goes into the total; each skill collects
    # the pairs it was practised on, and "without" is the total minus "with".
    # That is O(check-ins + skill mentions) instead of O(check-ins x skills).
    pairs = 0
    craving_total = 0.0
    with_count: dict[str, int] = {}
    with_total: dict[str, float] = {}
    for record in window:
        for skill in record.coping_skills:
            with_count.setdefault(skill, 0)
            with_total.setdefault(skill, 0.0)
        next_day = checkins.by_day.get(record.day + one)
        if next_day is None:  # also covers today: tomorrow is never in by_day
            continue
        pairs += 1
        craving_total += next_day.craving
        for skill in set(record.coping_skills):
            with_count[skill] += 1
            with_total[skill] += next_day.craving

    effects: list[tuple[tuple[Any, ...], SkillEffect]] = []
    for skill, n_with in with_count.items():
        n_without = pairs - n_with
        if min(n_with, n_without) < MIN_DAYS_FOR_WHAT_HELPS:
            effect = SkillEffect(skill, None, None, None, n_with, n_without)
            sort_key: tuple[Any, ...] = (1, -n_with, 0.0, skill)
        else:
            mean_with = with_total[skill] / n_with
            mean_without = (craving_total - with_total[skill]) / n_without
            difference = mean_with - mean_without
            effect = SkillEffect(
                skill=skill,
                mean_with=rounded(mean_with, 2),
                mean_without=rounded(mean_without, 2),
                difference=rounded(difference, 2),
                n_with=n_with,
                n_without=n_without,
            )
            sort_key = (0, 0, difference, skill)
        effects.append((sort_key, effect))
    effects.sort(key=lambda keyed: keyed[0])
    return [effect for _, effect in effects]
