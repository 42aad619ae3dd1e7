"""Craving, mood and sleep over time: rolling means, least-squares slopes, week-over-week change."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from .checkins import (
    CheckinIndex,
    Counting,
    EarlierCheckins,
    Flat,
    Records,
    counting_start,
    indexed,
    mean_of,
    rounded,
)

METRICS = ("craving", "mood", "sleep_hours")

STEADY_THRESHOLD = {
    "craving": 0.05,  # points/day: 0.7 points over 14 days, under one scale step
    "mood": 0.05,  # points/day: 0.7 points over 14 days, under one scale step
    "sleep_hours": 0.03,  # hours/day: ~25 minutes over 14 days
}

# A metric where a falling line is good news; for the others a rising one is.
LOWER_IS_BETTER = frozenset({"craving"})

MIN_POINTS_FOR_DIRECTION = 4

SLOPE_DAYS = 14

Direction = Literal["improving", "steady", "worsening"]


@dataclass(frozen=True)
class MeanFigure(Flat):
    """Mean of one metric over the last ``days`` days."""

    metric: str
    days: int
    value: float | None  # None when n == 0
    n: int  # days with a check-in
    n_late: int  # of which filled in late


@dataclass(frozen=True)
class SlopeFigure(Flat):
    """Least-squares slope per day of one metric over the last ``days`` days."""

    metric: str
    days: int
    value: float | None  # None when n < MIN_POINTS_FOR_DIRECTION
    n: int
    n_late: int
    direction: Direction | None  # None when n < MIN_POINTS_FOR_DIRECTION


@dataclass(frozen=True)
class ChangeFigure(Flat):
    """This week's mean (today-6..today) minus last week's (today-13..today-7)."""

    metric: str
    value: float | None  # None unless both weeks have data
    mean_this: float | None
    mean_last: float | None
    n_this: int
    n_last: int


@dataclass(frozen=True)
class MetricTrend:
    """Everything the Trends section shows for one metric."""

    metric: str
    mean_7: MeanFigure
    mean_28: MeanFigure
    slope_14: SlopeFigure
    week_over_week: ChangeFigure
    window_days: int  # the span days_with_data and missing_days refer to
    days_with_data: int  # check-ins in the window
    missing_days: int  # days in treatment in the window with no check-in

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mean_7": self.mean_7.to_dict(),
            "mean_28": self.mean_28.to_dict(),
            "slope_14": self.slope_14.to_dict(),
            "week_over_week": self.week_over_week.to_dict(),
            "window_days": self.window_days,
            "days_with_data": self.days_with_data,
            "missing_days": self.missing_days,
        }


def rolling_mean(
    records: Records, metric: str, today: date, days: int,
    *, earlier: EarlierCheckins | None = None,
) -> MeanFigure:
    """Average a metric over the ``days`` local days ending today."""
    return _rolling_mean(indexed(records, today, earlier), metric, days)


def slope(
    records: Records, metric: str, today: date, days: int = SLOPE_DAYS,
    *, earlier: EarlierCheckins | None = None,
) -> SlopeFigure:
    """Fit a least-squares line per day to a metric over the last ``days`` days."""
    return _slope(indexed(records, today, earlier), metric, days)


def week_over_week(
    records: Records, metric: str, today: date,
    *, earlier: EarlierCheckins | None = None,
) -> ChangeFigure:
    """Compare this week's mean of a metric with last week's."""
    return _week_over_week(indexed(records, today, earlier), metric)


def metric_trend(
    records: Records,
    metric: str,
    today: date,
    *,
    recovery_start: date | None = None,
    window: int = 28,
    earlier: EarlierCheckins | None = None,
    in_treatment_since: date | None = None,
) -> MetricTrend:
    """Bundle the means, slope, weekly change and missing days of one metric.

    Missing days count the days in treatment as PDA and adherence do
    (counting_start), with in_treatment_since as they take it.
    """
    counting = counting_start(recovery_start, in_treatment_since)
    return _metric_trend(indexed(records, today, earlier), metric, counting, window)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def _rolling_mean(checkins: CheckinIndex, metric: str, days: int) -> MeanFigure:
    _check_metric(metric)
    window = checkins.in_window(days)
    return MeanFigure(
        metric=metric,
        days=days,
        value=rounded(mean_of([getattr(record, metric) for record in window]), 2),
        n=len(window),
        n_late=sum(record.late for record in window),
    )


def _direction(metric: str, per_day: float) -> Direction:
    if abs(per_day) <= STEADY_THRESHOLD[metric]:  # within the limit, inclusive (module doc)
        return "steady"
    rising = per_day > 0
    good = not rising if metric in LOWER_IS_BETTER else rising
    return "improving" if good else "worsening"


def _slope(checkins: CheckinIndex, metric: str, days: int) -> SlopeFigure:
    _check_metric(metric)
    start = checkins.window_start(days)
    window = checkins.in_window(days)
    n = len(window)
    per_day: float | None = None
    direction: Direction | None = None
    if n >= MIN_POINTS_FOR_DIRECTION:
        # Centred sums: the two-pass form keeps the fit exact enough for
        # integer scores. Days are distinct, so the x spread is never zero.
        xs = [(record.day - start).days for record in window]
        ys = [getattr(record, metric) for record in window]
        x_mean = sum(xs) / n
        y_mean = sum(ys) / n
        sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
        sxx = sum((x - x_mean) ** 2 for x in xs)
        per_day = sxy / sxx
        direction = _direction(metric, per_day)
    return SlopeFigure(
        metric=metric,
        days=days,
        value=rounded(per_day, 3),
        n=n,
        n_late=sum(record.late for record in window),
        direction=direction,
    )


def _week_over_week(checkins: CheckinIndex, metric: str) -> ChangeFigure:
    _check_metric(metric)
    this_start = checkins.window_start(7)
    last_start = checkins.window_start(14)
    this_week: list[float] = []
    last_week: list[float] = []
    for record in checkins.by_day.values():
        if record.day >= this_start:
            this_week.append(getattr(record, metric))
        elif record.day >= last_start:
            last_week.append(getattr(record, metric))
    mean_this = mean_of(this_week)
    mean_last = mean_of(last_week)
    change = None
    if mean_this is not None and mean_last is not None:
        change = mean_this - mean_last
    return ChangeFigure(
        metric=metric,
        value=rounded(change, 2),
        mean_this=rounded(mean_this, 2),
        mean_last=rounded(mean_last, 2),
        n_this=len(this_week),
        n_last=len(last_week),
    )


def _metric_trend(checkins: CheckinIndex, metric: str, counting: Counting, window: int) -> MetricTrend:
    first, last, days_in_treatment = checkins.treatment_span(window, counting)
    reported_in_treatment = sum(first <= day <= last for day in checkins.by_day)
    return MetricTrend(
        metric=metric,
        mean_7=_rolling_mean(checkins, metric, 7),
        mean_28=_rolling_mean(checkins, metric, 28),
        slope_14=_slope(checkins, metric, SLOPE_DAYS),
        week_over_week=_week_over_week(checkins, metric),
        window_days=window,
        days_with_data=len(checkins.in_window(window)),
        missing_days=days_in_treatment - reported_in_treatment,
    )
