"""Score questionnaire responses and the change between them.

Pure functions over the tables in ``services.instruments``: no Flask, no
database. Answers are ``{item id: answer}`` with item ids as strings ("1",
"2", ...); see ``instruments`` for what each item accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .instrument_parts import AtMostItem, Band, Instrument, Item, OnlyWhenItemPositive
from .instruments import INSTRUMENTS, UnknownInstrument, get_instrument

__all__ = [
    "INSTRUMENTS",
    "Change",
    "InstrumentMismatch",
    "InvalidAnswers",
    "ReliableChange",
    "Score",
    "ScoringError",
    "SubscaleChange",
    "SubscaleScore",
    "UnknownInstrument",
    "change",
    "get_instrument",
    "score",
    "validate_answers",
]

ReliableChange = Literal["improved", "worsened", "no reliable change"]

# Key for a problem with the answers as a whole, as marshmallow reports it.
WHOLE_RESPONSE = "_schema"


class ScoringError(ValueError):
    """Base for problems with what was handed to the scoring functions."""


class InvalidAnswers(ScoringError):
    """The answers do not fit the instrument; ``errors`` maps item id to messages."""

    def __init__(self, code: str, errors: dict[str, list[str]]) -> None:
        self.code = code
        self.errors = errors
        count = sum(len(messages) for messages in errors.values())
        super().__init__(f"{count} problem(s) with the {code} answers: {errors}")


class InstrumentMismatch(ScoringError):
    """A score from one instrument was compared with another instrument."""


@dataclass(frozen=True)
class SubscaleScore:
    code: str
    label: str
    score: int
    low: int
    high: int
    # The subscale is past its clinical cut-off (BAM: any use, risk >= 12,
    # protective <= 12).
    concern: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": self.score,
            "range": [self.low, self.high],
            "concern": self.concern,
        }


@dataclass(frozen=True)
class Score:
    instrument: str
    version: str
    total: int | None
    band: Band | None
    subscales: dict[str, SubscaleScore]
    crisis: bool
    item9: int | None
    # Points per scored item (the 0-3 or 0-4 value, not the raw day count).
    items: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": self.total,
            "band": self.band.to_dict() if self.band else None,
            "subscales": {code: sub.to_dict() for code, sub in self.subscales.items()},
            "crisis": self.crisis,
            "item9": self.item9,
            "items": dict(self.items),
        }


@dataclass(frozen=True)
class SubscaleChange:
    from_previous: int | None
    from_first: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"from_previous": self.from_previous, "from_first": self.from_first}


@dataclass(frozen=True)
class Change:
    instrument: str
    # Differences are current minus earlier: negative is fewer points.
    from_previous: int | None
    from_first: int | None
    reliable_change_previous: ReliableChange | None
    reliable_change_first: ReliableChange | None
    threshold: int | None
    subscales: dict[str, SubscaleChange] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "from_previous": self.from_previous,
            "from_first": self.from_first,
            "reliable_change_previous": self.reliable_change_previous,
            "reliable_change_first": self.reliable_change_first,
            "threshold": self.threshold,
            "subscales": {code: sub.to_dict() for code, sub in self.subscales.items()},
        }


def validate_answers(code: str, answers: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return every problem with a response, by item id; empty when valid."""
    instrument = get_instrument(code)
    if not isinstance(answers, Mapping):
        return {WHOLE_RESPONSE: ["answers must be an object of item id to answer"]}

    errors: dict[str, list[str]] = {}
    for item in instrument.items:
        answer = answers.get(item.id)
        if answer is None:
            if item.required:
                errors.setdefault(item.id, []).append("answer required")
            continue
        problem = _choice_problem(item, answer) if item.is_multiple_choice else _option_problem(
            item, answer
        )
        if problem:
            errors.setdefault(item.id, []).append(problem)

    for key in answers:
        if not instrument.has_item(key):
            hint = "" if isinstance(key, str) else ' (item ids are strings such as "1")'
            errors.setdefault(str(key), []).append(f"not an item of {instrument.code}{hint}")

    for rule in instrument.consistency_rules:
        # Only compare answers that are individually valid.
        if rule.item_id in errors or _other_id(rule) in errors:
            continue
        if _breaks(rule, answers):
            errors.setdefault(rule.item_id, []).append(rule.message)
    return errors


def score(code: str, answers: Mapping[str, Any]) -> Score:
    """Score a response; raise InvalidAnswers listing every problem."""
    instrument = get_instrument(code)
    errors = validate_answers(code, answers)
    if errors:
        raise InvalidAnswers(instrument.code, errors)

    points = {
        item.id: _points(item, answers[item.id])
        for item in instrument.items
        if not item.is_multiple_choice
    }
    total = sum(points.values()) if instrument.has_total else None
    subscales = {}
    for subscale in instrument.subscales:
        value = sum(points[item_id] for item_id in subscale.item_ids)
        low, high = instrument.subscale_range(subscale)
        subscales[subscale.code] = SubscaleScore(
            code=subscale.code,
            label=subscale.label,
            score=value,
            low=low,
            high=high,
            concern=subscale.is_concern(value),
        )
    return Score(
        instrument=instrument.code,
        version=instrument.version,
        total=total,
        band=_band(instrument, total),
        subscales=subscales,
        crisis=any(points[item_id] > 0 for item_id in instrument.crisis_items),
        item9=points[instrument.reported_alone] if instrument.reported_alone else None,
        items=points,
    )


def change(
    code: str, current: Score, previous: Score | None, first: Score | None
) -> Change:
    """Compare a score with the previous one and with the first one.

    Totals (PHQ-9, GAD-7) are judged against the instrument's reliable-change
    threshold, lower being better; a difference exactly at the threshold
    counts. The BAM has no published reliable-change threshold, so for it the
    verdicts are None and only the subscale differences are given.
    """
    instrument = get_instrument(code)
    for label, given in (("current", current), ("previous", previous), ("first", first)):
        if given is not None and given.instrument != instrument.code:
            raise InstrumentMismatch(f"{label} score is {given.instrument}, not {instrument.code}")

    from_previous = _difference(current.total, previous)
    from_first = _difference(current.total, first)
    subscales = {
        sub_code: SubscaleChange(
            from_previous=_subscale_difference(sub_code, current, previous),
            from_first=_subscale_difference(sub_code, current, first),
        )
        for sub_code in current.subscales
    }
    return Change(
        instrument=instrument.code,
        from_previous=from_previous,
        from_first=from_first,
        reliable_change_previous=_reliable(from_previous, instrument.reliable_change),
        reliable_change_first=_reliable(from_first, instrument.reliable_change),
        threshold=instrument.reliable_change,
        subscales=subscales,
    )


def _option_problem(item: Item, answer: Any) -> str | None:
    # bool is an int subclass; True must not pass for 1.
    if isinstance(answer, bool) or not isinstance(answer, int):
        return f"must be a whole number, not {type(answer).__name__}"
    if item.points_for(answer) is None:
        return _allowed(item)
    return None


def _allowed(item: Item) -> str:
    if any(option.up_to is not None for option in item.options):
        low = min(option.value for option in item.options)
        high = max(option.highest for option in item.options)
        return f"must be a whole number from {low} to {high}"
    listed = ", ".join(f"{option.value} ({option.label})" for option in item.options)
    return f"must be one of {listed}"


def _choice_problem(item: Item, answer: Any) -> str | None:
    if isinstance(answer, str | bytes) or not isinstance(answer, list | tuple):
        return "must be a list of codes"
    known = {choice.code for choice in item.choices}
    unknown = [code for code in answer if not isinstance(code, str) or code not in known]
    if unknown:
        allowed = ", ".join(choice.code for choice in item.choices)
        return f"unknown code(s) {', '.join(map(repr, unknown))}; choose from {allowed}"
    if len(set(answer)) != len(answer):
        return "lists a code more than once"
    return None


def _other_id(rule: AtMostItem | OnlyWhenItemPositive) -> str:
    return rule.other_id if isinstance(rule, AtMostItem) else rule.gate_id


def _breaks(rule: AtMostItem | OnlyWhenItemPositive, answers: Mapping[str, Any]) -> bool:
    if isinstance(rule, AtMostItem):
        return bool(answers[rule.item_id] > answers[rule.other_id])
    return bool(answers.get(rule.item_id)) and answers[rule.gate_id] == 0


def _points(item: Item, answer: int) -> int:
    points = item.points_for(answer)
    if points is None:
        raise ValueError("validated answers always map to an option")
    return points


def _band(instrument: Instrument, total: int | None) -> Band | None:
    if total is None:
        return None
    return next(band for band in instrument.bands if band.contains(total))


def _difference(total: int | None, earlier: Score | None) -> int | None:
    if total is None or earlier is None or earlier.total is None:
        return None
    return total - earlier.total


def _subscale_difference(sub_code: str, current: Score, earlier: Score | None) -> int | None:
    if earlier is None or sub_code not in earlier.subscales:
        return None
    return current.subscales[sub_code].score - earlier.subscales[sub_code].score


def _reliable(difference: int | None, threshold: int | None) -> ReliableChange | None:
    if difference is None or threshold is None:
        return None
    if difference <= -threshold:
        return "improved"
    if difference >= threshold:
        return "worsened"
    return "no reliable change"
