"""Compute a patient's trends from their daily check-ins.

Pure functions: no Flask, no database, no clock. Callers pass the check-ins and
"today"; every figure is a frozen dataclass with a ``to_dict()`` for the API.

Days
    A ``DayRecord.day`` is the patient's *local* calendar date, already decided
    by the caller in the patient's IANA zone at the time of the check-in. This
    module never converts time zones: it counts dates, so a DST change (a 23-
    or 25-hour day) cannot put a day count off by one, and a patient who moved
    zones keeps every local date they checked in on. One check-in per day;
    two records for the same day are a caller error (``ValueError``).
    Records dated after ``today`` are ignored, and the order of records does
    not matter.

Windows
    "The last N days" means the N local dates ending today, inclusive:
    ``today - N + 1 .. today``. Means, slopes, week-over-week change and
    coping-skill counts use whatever check-ins fall in that span.

Shares (PDA, adherence) and missing days
    Their denominator is the days the patient was in treatment within the
    window, not the raw window length:

    * a caller that knows the day of enrolment passes ``in_treatment_since``:
      every day from enrolment counts, and a day before it counts only when
      it has a check-in (filled in late: the patient had no app to check in
      with then, so an unreported day before enrolment is neither a missed
      check-in nor presumed use, while a day they did report is theirs and
      the figures say so through ``days_late``);
    * days before ``recovery_start`` never count (check-ins dated before it
      fall outside the treatment period and count on neither side of the
      fraction: a recovery that began years before enrolment is no years of
      missing check-ins);
    * without ``in_treatment_since`` every day counts from ``recovery_start``,
      or from the patient's first check-in when there is none;
    * today counts only once it has a check-in: the day is not over, and a
      patient who checks in every evening must not read 86 % every morning.

    PDA (percent days abstinent, the standard outcome measure in substance-use
    treatment) is given both ways: ``missing_as_use`` (abstinent days / days in
    treatment, the conservative convention: an unreported day is not presumed
    abstinent) and ``missing_excluded`` (abstinent days / reported days).

Direction of a trend
    The 14-day least-squares slope needs at least ``MIN_POINTS_FOR_DIRECTION``
    check-ins; below that both the slope and its direction are ``None``.
    ``|slope| <= STEADY_THRESHOLD[metric]`` reads "steady" (within the limit,
    the limit itself included). The thresholds are set so that "improving"
    or "worsening" means a change a person would notice across the two
    weeks of the window:

    * craving and mood, 0.05 points/day: 0.7 points over 14 days, less than
      one step of the 0-10 scale the patient answers in whole numbers;
    * sleep_hours, 0.03 hours/day: about 25 minutes over 14 days, well inside
      the night-to-night variation of self-reported sleep.

    "Improving" means down for craving and up for mood and sleep.

Loaded windows
    A caller that reads only recent days passes ``earlier``, an
    ``EarlierCheckins`` summary of the older check-ins; every figure is then
    the one the whole history gives, and a figure whose window reaches past
    the loaded days raises ``ValueError`` instead of being computed from part
    of them. ``index_checkins`` indexes the records once for several figures
    of the same day.

Rounding
    Only at the output: means 2 decimals, slopes 3, percentages 1. Directions,
    differences and sort orders are computed from unrounded values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, Literal

METRICS = ("craving", "mood", "sleep_hours")

STEADY_THRESHOLD = {
    "craving": 0.05,  # points/day: 0.7 points over 14 days, under one scale step
    "mood": 0.05,  # points/day: 0.7 points over 14 days, under one scale step
    "sleep_hours": 0.03,  # hours/day: ~25 minutes over 14 days
}

# A metric where a falling line is good news; for the others a rising one is.
LOWER_IS_BETTER = frozenset({"craving"})

MIN_POINTS_FOR_DIRECTION = 4
MIN_DAYS_FOR_WHAT_HELPS = 5

SLOPE_DAYS = 14
PDA_WINDOWS = (7, 30, 90)

Direction = Literal["improving", "steady", "worsening"]


@dataclass(frozen=True)
class DayRecord:
    """One check-in: one local calendar day of the patient."""

    day: date
    craving: int  # 0-10, 0 none
    mood: int  # 0-10, 10 best
    sleep_hours: float  # 0-24
    used_substance: bool
    coping_skills: tuple[str, ...] = ()
    late: bool = False  # filled in after the fact


@dataclass(frozen=True)
class EarlierCheckins:
    """What the figures need of a patient's check-ins dated before ``before``.

    A caller that loads only the check-ins from ``before`` on (the windows a
    view shows) passes this summary of the older ones, so that the figures
    that can reach back any distance (the current and longest abstinence
    streaks, the last check-in, the first check-in as treatment start) come
    out as from the whole history. Records dated before ``before`` are then
    ignored, and a window that would start before ``before`` is a caller
    error (``ValueError``), never a figure computed from part of its days.
    """

    before: date
    first_day: date | None = None  # the earliest check-in before ``before``
    last_day: date | None = None  # the latest check-in before ``before``
    run: int = 0  # abstinent check-ins on consecutive days up to before - 1
    longest_run: int | None = None  # the longest such run before ``before``; None: not loaded


# ---------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------


class _Flat:
    """A figure of plain values: its dict is its fields, in order."""

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class MeanFigure(_Flat):
    """Mean of one metric over the last ``days`` days."""

    metric: str
    days: int
    value: float | None  # None when n == 0
    n: int  # days with a check-in
    n_late: int  # of which filled in late


@dataclass(frozen=True)
class SlopeFigure(_Flat):
    """Least-squares slope per day of one metric over the last ``days`` days."""

    metric: str
    days: int
    value: float | None  # None when n < MIN_POINTS_FOR_DIRECTION
    n: int
    n_late: int
    direction: Direction | None  # None when n < MIN_POINTS_FOR_DIRECTION


@dataclass(frozen=True)
class ChangeFigure(_Flat):
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


@dataclass(frozen=True)
class PdaFigure(_Flat):
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
class AdherenceFigure(_Flat):
    """Share of days in treatment with a check-in over the last ``days`` days."""

    days: int
    percent: float | None  # 0-100, None when days_in_window == 0
    days_reported: int
    days_in_window: int
    days_late: int


@dataclass(frozen=True)
class SkillCount(_Flat):
    """How many days a coping skill was practised in the window."""

    skill: str
    days: int


@dataclass(frozen=True)
class SkillEffect(_Flat):
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


@dataclass(frozen=True)
class PatientTrends:
    """The whole Trends section for one patient on one day."""

    today: date
    recovery_start: date | None
    window_days: int
    last_checkin: date | None
    metrics: tuple[MetricTrend, ...]  # one per METRICS, in that order
    abstinence: Abstinence
    adherence_7: AdherenceFigure
    adherence: AdherenceFigure  # over window_days
    coping_skills: tuple[SkillCount, ...]  # over window_days
    what_helps: tuple[SkillEffect, ...]  # over 90 days

    def metric(self, name: str) -> MetricTrend:
        """Return the trend of the metric called ``name``."""
        for trend in self.metrics:
            if trend.metric == name:
                return trend
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "recovery_start": _iso(self.recovery_start),
            "window_days": self.window_days,
            "last_checkin": _iso(self.last_checkin),
            "metrics": {trend.metric: trend.to_dict() for trend in self.metrics},
            "abstinence": self.abstinence.to_dict(),
            "adherence_7": self.adherence_7.to_dict(),
            "adherence": self.adherence.to_dict(),
            "coping_skills": [count.to_dict() for count in self.coping_skills],
            "what_helps": [effect.to_dict() for effect in self.what_helps],
        }


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def rolling_mean(
    records: Iterable[DayRecord], metric: str, today: date, days: int,
    *, earlier: EarlierCheckins | None = None,
) -> MeanFigure:
    """Average a metric over the ``days`` local days ending today."""
    return _rolling_mean(_indexed(records, today, earlier), metric, days)


def slope(
    records: Iterable[DayRecord], metric: str, today: date, days: int = SLOPE_DAYS,
    *, earlier: EarlierCheckins | None = None,
) -> SlopeFigure:
    """Fit a least-squares line per day to a metric over the last ``days`` days."""
    return _slope(_indexed(records, today, earlier), metric, days)


def week_over_week(
    records: Iterable[DayRecord], metric: str, today: date,
    *, earlier: EarlierCheckins | None = None,
) -> ChangeFigure:
    """Compare this week's mean of a metric with last week's."""
    return _week_over_week(_indexed(records, today, earlier), metric)


def metric_trend(
    records: Iterable[DayRecord],
    metric: str,
    today: date,
    *,
    recovery_start: date | None = None,
    window: int = 28,
    earlier: EarlierCheckins | None = None,
) -> MetricTrend:
    """Bundle the means, slope, weekly change and missing days of one metric."""
    return _metric_trend(_indexed(records, today, earlier), metric, _Counting(recovery_start), window)


def abstinence(
    records: Iterable[DayRecord], today: date, recovery_start: date | None = None,
    *, earlier: EarlierCheckins | None = None, in_treatment_since: date | None = None,
) -> Abstinence:
    """Compute abstinence streaks, PDA over 7/30/90 days and days in recovery.

    The current streak ends today, or yesterday while today has no check-in
    yet. A day without a check-in breaks a streak (we do not know), as does a
    day with use.
    """
    checkins = _indexed(records, today, earlier)
    return _abstinence(checkins, _counting_start(recovery_start, in_treatment_since), recovery_start)


def current_streak(
    records: Iterable[DayRecord], today: date, *, earlier: EarlierCheckins | None = None
) -> int:
    """Return the current abstinence streak alone (as ``abstinence`` counts it)."""
    return _current_streak(_indexed(records, today, earlier))


def last_checkin(
    records: Iterable[DayRecord], today: date, *, earlier: EarlierCheckins | None = None
) -> date | None:
    """Return the day of the latest check-in up to today."""
    return _indexed(records, today, earlier).last_day


def adherence(
    records: Iterable[DayRecord],
    today: date,
    days: int,
    *,
    recovery_start: date | None = None,
    earlier: EarlierCheckins | None = None,
    in_treatment_since: date | None = None,
) -> AdherenceFigure:
    """Compute the share of days in treatment with a check-in."""
    checkins = _indexed(records, today, earlier)
    return _adherence(checkins, days, _counting_start(recovery_start, in_treatment_since))


def coping_skill_frequency(
    records: Iterable[DayRecord], today: date, days: int,
    *, earlier: EarlierCheckins | None = None,
) -> list[SkillCount]:
    """Count the days each coping skill was practised, most practised first."""
    return _coping_skill_frequency(_indexed(records, today, earlier), days)


def what_helps(
    records: Iterable[DayRecord], today: date, days: int = 90,
    *, earlier: EarlierCheckins | None = None,
) -> list[SkillEffect]:
    """Compare next-day craving after days with and without each skill.

    Only day pairs (d, d+1) with a check-in on both days, both in the window,
    count. Skills with a figure come first, largest craving reduction first;
    thin ones follow, the closest to a figure first.
    """
    return _what_helps(_indexed(records, today, earlier), days)


def patient_trends(
    records: Iterable[DayRecord],
    today: date,
    recovery_start: date | None = None,
    window: int = 28,
    *,
    earlier: EarlierCheckins | None = None,
    in_treatment_since: date | None = None,
) -> PatientTrends:
    """Compute the whole Trends section for one patient.

    in_treatment_since (the day of enrolment) keeps the days before it, on
    which the patient had no app to check in with, out of PDA, adherence and
    missing days, except those they filled in late (see _counting_start).
    """
    checkins = _indexed(records, today, earlier)
    start = _counting_start(recovery_start, in_treatment_since)
    return PatientTrends(
        today=today,
        recovery_start=recovery_start,
        window_days=window,
        last_checkin=checkins.last_day,
        metrics=tuple(
            _metric_trend(checkins, metric, start, window) for metric in METRICS
        ),
        abstinence=_abstinence(checkins, start, recovery_start),
        adherence_7=_adherence(checkins, 7, start),
        adherence=_adherence(checkins, window, start),
        coping_skills=tuple(_coping_skill_frequency(checkins, window)),
        what_helps=tuple(_what_helps(checkins, 90)),
    )


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------


class _Checkins:
    """The check-ins up to today, indexed by day, built once per patient.

    With ``earlier``, only the check-ins from ``earlier.before`` on are
    indexed and the older ones are known by their summary (EarlierCheckins).
    """

    __slots__ = ("today", "by_day", "first_day", "last_day", "earlier")

    def __init__(
        self, records: Iterable[DayRecord], today: date, earlier: EarlierCheckins | None = None
    ) -> None:
        self.today = today
        self.earlier = earlier
        self.by_day: dict[date, DayRecord] = {}
        before = date.min
        if earlier is not None:
            if earlier.before > today:
                raise ValueError(
                    f"check-ins loaded from {earlier.before.isoformat()} cannot describe "
                    f"{today.isoformat()}"
                )
            before = earlier.before
        for record in records:
            if record.day > today or record.day < before:
                continue
            if record.day in self.by_day:
                raise ValueError(f"two check-ins for {record.day.isoformat()}")
            self.by_day[record.day] = record
        self.first_day = min(self.by_day) if self.by_day else None
        self.last_day = max(self.by_day) if self.by_day else None
        if earlier is not None:
            if earlier.first_day is not None:
                self.first_day = earlier.first_day
            if self.last_day is None:
                self.last_day = earlier.last_day

    def in_window(self, days: int) -> list[DayRecord]:
        """Return the check-ins of the ``days`` days ending today."""
        start = self.window_start(days)
        return [record for record in self.by_day.values() if record.day >= start]

    def window_start(self, days: int) -> date:
        if days < 1:
            raise ValueError(f"a window needs at least one day, got {days}")
        start = self.today - timedelta(days=days - 1)
        if self.earlier is not None and start < self.earlier.before:
            raise ValueError(
                f"a {days}-day window from {start.isoformat()} needs the check-ins before "
                f"{self.earlier.before.isoformat()}, which were not loaded"
            )
        return start

    def treatment_span(self, days: int, counting: "_Counting") -> tuple[date, date, int]:
        """Return the first and last day a window's check-ins count on, and its days in treatment.

        Every check-in from the first to the last day counts; the days in
        treatment are those days, less the unreported ones before
        ``counting.every_day`` (see "Shares" in the module docstring).
        """
        window_first = self.window_start(days)
        every_day = counting.every_day if counting.every_day is not None else self.first_day
        if every_day is None:
            return window_first, window_first, 0
        first = max(window_first, min(counting.reported_from or every_day, every_day))
        counted_from = max(window_first, every_day)
        last = self.today if self.today in self.by_day else self.today - timedelta(days=1)
        in_treatment = max(0, (last - counted_from).days + 1)
        if first < counted_from:
            in_treatment += sum(first <= day < counted_from and day <= last for day in self.by_day)
        return first, last, in_treatment


def index_checkins(
    records: Iterable[DayRecord], today: date, earlier: EarlierCheckins | None = None
) -> CheckinIndex:
    """Index a patient's check-ins for today once, for several figures of the same day.

    Every public function here takes the index in place of the records; it
    must be for the same today and earlier (``ValueError`` otherwise).
    """
    return _Checkins(records, today, earlier)


def _indexed(records, today: date, earlier: EarlierCheckins | None) -> _Checkins:
    if isinstance(records, _Checkins):
        if records.today != today or records.earlier != earlier:
            raise ValueError("check-ins indexed for another day or window")
        return records
    return _Checkins(records, today, earlier)


CheckinIndex = _Checkins


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rounded(value: float | None, places: int) -> float | None:
    if value is None:
        return None
    return round(value, places) + 0.0  # + 0.0 turns -0.0 into 0.0 for the JSON


def _percent(part: int, whole: int) -> float | None:
    return _rounded(100.0 * part / whole, 1) if whole else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _rolling_mean(checkins: _Checkins, metric: str, days: int) -> MeanFigure:
    _check_metric(metric)
    window = checkins.in_window(days)
    return MeanFigure(
        metric=metric,
        days=days,
        value=_rounded(_mean([getattr(record, metric) for record in window]), 2),
        n=len(window),
        n_late=sum(record.late for record in window),
    )


def _direction(metric: str, per_day: float) -> Direction:
    if abs(per_day) <= STEADY_THRESHOLD[metric]:  # within the limit, inclusive (module doc)
        return "steady"
    rising = per_day > 0
    good = not rising if metric in LOWER_IS_BETTER else rising
    return "improving" if good else "worsening"


def _slope(checkins: _Checkins, metric: str, days: int) -> SlopeFigure:
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
        sxy = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys))
        sxx = sum((x - x_mean) ** 2 for x in xs)
        per_day = sxy / sxx
        direction = _direction(metric, per_day)
    return SlopeFigure(
        metric=metric,
        days=days,
        value=_rounded(per_day, 3),
        n=n,
        n_late=sum(record.late for record in window),
        direction=direction,
    )


def _week_over_week(checkins: _Checkins, metric: str) -> ChangeFigure:
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
    mean_this = _mean(this_week)
    mean_last = _mean(last_week)
    change = None
    if mean_this is not None and mean_last is not None:
        change = mean_this - mean_last
    return ChangeFigure(
        metric=metric,
        value=_rounded(change, 2),
        mean_this=_rounded(mean_this, 2),
        mean_last=_rounded(mean_last, 2),
        n_this=len(this_week),
        n_last=len(last_week),
    )


def _metric_trend(checkins: _Checkins, metric: str, counting: _Counting, window: int) -> MetricTrend:
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


def _abstinent_days(checkins: _Checkins) -> set[date]:
    return {day for day, record in checkins.by_day.items() if not record.used_substance}


def _current_streak(checkins: _Checkins, abstinent_days: set[date] | None = None) -> int:
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


def _longest_streak(checkins: _Checkins, abstinent_days: set[date]) -> int:
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


@dataclass(frozen=True)
class _Counting:
    """Which days of a window are days in treatment (see "Shares" in the module docstring)."""

    every_day: date | None  # every day from here counts; None: from the first check-in
    reported_from: date | None = None  # from here to every_day - 1, only days with a check-in


def _counting_start(recovery_start: date | None, in_treatment_since: date | None) -> _Counting:
    """Return the days PDA, adherence and missing days count, the one rule every view shares.

    Without in_treatment_since, every day from recovery_start (the legacy
    rule in the module docstring). With it, every day from enrolment, and
    before enrolment only the days the patient reported (filled in late),
    never before recovery_start.
    """
    if in_treatment_since is None:
        return _Counting(recovery_start)
    if recovery_start is None:
        return _Counting(in_treatment_since, date.min)
    return _Counting(max(in_treatment_since, recovery_start), recovery_start)


def _abstinence(checkins: _Checkins, counting: _Counting, recovery_start: date | None) -> Abstinence:
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
                missing_as_use=_percent(abstinent, days_in_window),
                missing_excluded=_percent(abstinent, len(reported)),
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


def _adherence(checkins: _Checkins, days: int, counting: _Counting) -> AdherenceFigure:
    first, last, days_in_window = checkins.treatment_span(days, counting)
    reported = [
        record for record in checkins.by_day.values() if first <= record.day <= last
    ]
    return AdherenceFigure(
        days=days,
        percent=_percent(len(reported), days_in_window),
        days_reported=len(reported),
        days_in_window=days_in_window,
        days_late=sum(record.late for record in reported),
    )


def _coping_skill_frequency(checkins: _Checkins, days: int) -> list[SkillCount]:
    counts: dict[str, int] = {}
    for record in checkins.in_window(days):
        for skill in set(record.coping_skills):
            counts[skill] = counts.get(skill, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [SkillCount(skill=skill, days=count) for skill, count in ranked]


def _what_helps(checkins: _Checkins, days: int) -> list[SkillEffect]:
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
                mean_with=_rounded(mean_with, 2),
                mean_without=_rounded(mean_without, 2),
                difference=_rounded(difference, 2),
                n_with=n_with,
                n_without=n_without,
            )
            sort_key = (0, 0, difference, skill)
        effects.append((sort_key, effect))
    effects.sort(key=lambda keyed: keyed[0])
    return [effect for _, effect in effects]
