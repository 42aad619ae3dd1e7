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

Modules
    checkins (the records, their index and the days in treatment), metrics
    (means, slopes, weekly change), abstinence (streaks, PDA, adherence),
    coping (skill counts, "what helps"), section (the whole Trends section).
    Import from the package: its names are the public ones.
"""

from .abstinence import (
    PDA_WINDOWS,
    Abstinence,
    AdherenceFigure,
    PdaFigure,
    abstinence,
    adherence,
    current_streak,
    last_checkin,
)
from .checkins import CheckinIndex, DayRecord, EarlierCheckins, Records, index_checkins
from .coping import MIN_DAYS_FOR_WHAT_HELPS, SkillCount, SkillEffect, coping_skill_frequency, what_helps
from .metrics import (
    LOWER_IS_BETTER,
    METRICS,
    MIN_POINTS_FOR_DIRECTION,
    SLOPE_DAYS,
    STEADY_THRESHOLD,
    ChangeFigure,
    Direction,
    MeanFigure,
    MetricTrend,
    SlopeFigure,
    metric_trend,
    rolling_mean,
    slope,
    week_over_week,
)
from .section import PatientTrends, patient_trends

__all__ = [
    "LOWER_IS_BETTER",
    "METRICS",
    "MIN_DAYS_FOR_WHAT_HELPS",
    "MIN_POINTS_FOR_DIRECTION",
    "PDA_WINDOWS",
    "SLOPE_DAYS",
    "STEADY_THRESHOLD",
    "Abstinence",
    "AdherenceFigure",
    "ChangeFigure",
    "CheckinIndex",
    "DayRecord",
    "Direction",
    "EarlierCheckins",
    "MeanFigure",
    "MetricTrend",
    "PatientTrends",
    "PdaFigure",
    "Records",
    "SkillCount",
    "SkillEffect",
    "SlopeFigure",
    "abstinence",
    "adherence",
    "coping_skill_frequency",
    "current_streak",
    "index_checkins",
    "last_checkin",
    "metric_trend",
    "patient_trends",
    "rolling_mean",
    "slope",
    "week_over_week",
    "what_helps",
]
