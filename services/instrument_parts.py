"""What a questionnaire is made of: items, answer options, bands, subscales and consistency rules.

Plain frozen data: the catalogue (services.instruments) builds the PHQ-9,
GAD-7 and BAM from these, and services.scoring reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AtMostItem",
    "Band",
    "Choice",
    "Instrument",
    "Item",
    "OnlyWhenItemPositive",
    "Option",
    "Subscale",
]


@dataclass(frozen=True)
class Option:
    """One answer option: the value a client sends and the points it scores.

    ``up_to`` makes the option a range of accepted answers (inclusive), which
    is how the BAM's day-count items work: 0-30 days fall into five brackets.
    A client that shows the brackets as buttons sends ``value`` (the bracket's
    first day); a client that asks for a count sends the count.
    """

    value: int
    label: str
    points: int
    up_to: int | None = None

    @property
    def highest(self) -> int:
        return self.value if self.up_to is None else self.up_to

    def accepts(self, answer: int) -> bool:
        return self.value <= answer <= self.highest

    def to_dict(self) -> dict[str, Any]:
        option: dict[str, Any] = {"value": self.value, "label": self.label, "points": self.points}
        if self.up_to is not None:
            option["up_to"] = self.up_to
        return option


@dataclass(frozen=True)
class Choice:
    """One entry of a multiple-choice (unscored) item, such as a substance."""

    code: str
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label}


@dataclass(frozen=True)
class Item:
    """One question. Scored items have ``options``; multi-select ones ``choices``."""

    id: str
    text: str
    options: tuple[Option, ...] = ()
    choices: tuple[Choice, ...] = ()
    required: bool = True
    # Direction of the raw points: False means more points = more trouble.
    higher_is_better: bool = False
    note: str = ""

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)

    def points_for(self, answer: int) -> int | None:
        """Return the points an answer scores, or None when no option accepts it."""
        for option in self.options:
            if option.accepts(answer):
                return option.points
        return None

    def to_dict(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "required": self.required,
            "higher_is_better": self.higher_is_better,
        }
        if self.options:
            item["options"] = [option.to_dict() for option in self.options]
        if self.choices:
            item["choices"] = [choice.to_dict() for choice in self.choices]
            item["multiple"] = True
        if self.note:
            item["note"] = self.note
        return item


@dataclass(frozen=True)
class Band:
    """A severity band over the total, inclusive at both ends."""

    code: str
    label: str
    low: int
    high: int

    def contains(self, total: int) -> bool:
        return self.low <= total <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label}


@dataclass(frozen=True)
class Subscale:
    """A sum over some items with one clinical cut-off.

    The cut-off is a concern at or above it when more points are worse, and
    at or below it when more points are better (the BAM's protective factors).
    """

    code: str
    label: str
    item_ids: tuple[str, ...]
    cutoff: int
    higher_is_better: bool = False

    def is_concern(self, score: int) -> bool:
        return score <= self.cutoff if self.higher_is_better else score >= self.cutoff

    @property
    def cutoff_text(self) -> str:
        return f"<= {self.cutoff}" if self.higher_is_better else f">= {self.cutoff}"


@dataclass(frozen=True)
class AtMostItem:
    """Consistency rule: ``item_id``'s answer cannot exceed ``other_id``'s answer."""

    item_id: str
    other_id: str
    message: str


@dataclass(frozen=True)
class OnlyWhenItemPositive:
    """Consistency rule: a non-empty ``item_id`` needs ``gate_id`` above 0."""

    item_id: str
    gate_id: str
    message: str


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    version: str
    recall_period: str
    instructions: str
    items: tuple[Item, ...]
    source: str
    total_range: tuple[int, int] | None = None
    bands: tuple[Band, ...] = ()
    subscales: tuple[Subscale, ...] = ()
    # Smallest change in the total that is beyond measurement error.
    reliable_change: int | None = None
    # Any of these items above 0 is a crisis signal.
    crisis_items: tuple[str, ...] = ()
    # An item the care team sees on its own next to the total (PHQ-9 item 9).
    reported_alone: str | None = None
    consistency_rules: tuple[AtMostItem | OnlyWhenItemPositive, ...] = ()
    _by_id: dict[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {item.id: item for item in self.items})

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def has_total(self) -> bool:
        return self.total_range is not None

    def item(self, item_id: str) -> Item:
        return self._by_id[item_id]

    def has_item(self, item_id: object) -> bool:
        return item_id in self._by_id

    def subscale_range(self, subscale: Subscale) -> tuple[int, int]:
        items = [self.item(item_id) for item_id in subscale.item_ids]
        low = sum(min(o.points for o in item.options) for item in items)
        high = sum(max(o.points for o in item.options) for item in items)
        return low, high

    def to_dict(self) -> dict[str, Any]:
        """Describe the questionnaire for a client to render."""
        return {
            "code": self.code,
            "name": self.name,
            "version": self.version,
            "recall_period": self.recall_period,
            "instructions": self.instructions,
            "items": [item.to_dict() for item in self.items],
            "total_range": list(self.total_range) if self.total_range else None,
            "bands": [
                {"code": b.code, "label": b.label, "low": b.low, "high": b.high} for b in self.bands
            ],
            "subscales": [
                {
                    "code": s.code,
                    "label": s.label,
                    "items": list(s.item_ids),
                    "range": list(self.subscale_range(s)),
                    "higher_is_better": s.higher_is_better,
                    "concern": s.cutoff_text,
                }
                for s in self.subscales
            ],
            "reliable_change": self.reliable_change,
            "source": self.source,
        }
