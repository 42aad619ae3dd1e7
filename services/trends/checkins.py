"""The check-ins the figures read: one day's record, the summary of older ones, the index of a patient's days.

Also which days of a window are days in treatment (Counting), the one rule
every share follows, and the rounding every figure applies at its output.
See the package docstring (services.trends) for the rules themselves.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, ClassVar


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


class Flat:
    """A figure of plain values: its dict is its fields, in order."""

    # Every subclass is a dataclass; declared so that the type checker knows fields() applies.
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


class CheckinIndex:
    """The check-ins up to today, indexed by day, built once per patient.

    With ``earlier``, only the check-ins from ``earlier.before`` on are
    indexed and the older ones are known by their summary (EarlierCheckins).
    """

    __slots__ = ("by_day", "earlier", "first_day", "last_day", "today")

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

    def treatment_span(self, days: int, counting: Counting) -> tuple[date, date, int]:
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


# What every figure takes: the records, or their index built once for several figures.
Records = Iterable[DayRecord] | CheckinIndex


def index_checkins(
    records: Iterable[DayRecord], today: date, earlier: EarlierCheckins | None = None
) -> CheckinIndex:
    """Index a patient's check-ins for today once, for several figures of the same day.

    Every public function here takes the index in place of the records; it
    must be for the same today and earlier (``ValueError`` otherwise).
    """
    return CheckinIndex(records, today, earlier)


def indexed(records: Records, today: date, earlier: EarlierCheckins | None) -> CheckinIndex:
    """Return records as an index for today, checking that an index given is for today and earlier."""
    if isinstance(records, CheckinIndex):
        if records.today != today or records.earlier != earlier:
            raise ValueError("check-ins indexed for another day or window")
        return records
    return CheckinIndex(records, today, earlier)


def mean_of(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rounded(value: float | None, places: int) -> float | None:
    if value is None:
        return None
    return round(value, places) + 0.0  # + 0.0 turns -0.0 into 0.0 for the JSON


def percent_of(part: int, whole: int) -> float | None:
    return rounded(100.0 * part / whole, 1) if whole else None


def iso_day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


@dataclass(frozen=True)
class Counting:
    """Which days of a window are days in treatment (see "Shares" in the module docstring)."""

    every_day: date | None  # every day from here counts; None: from the first check-in
    reported_from: date | None = None  # from here to every_day - 1, only days with a check-in


def counting_start(recovery_start: date | None, in_treatment_since: date | None) -> Counting:
    """Return the days PDA, adherence and missing days count, the one rule every view shares.

    Without in_treatment_since, every day from recovery_start (the legacy
    rule in the module docstring). With it, every day from enrolment, and
    before enrolment only the days the patient reported (filled in late),
    never before recovery_start.
    """
    if in_treatment_since is None:
        return Counting(recovery_start)
    if recovery_start is None:
        return Counting(in_treatment_since, date.min)
    return Counting(max(in_treatment_since, recovery_start), recovery_start)
