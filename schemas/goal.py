"""Weekly goals: what a patient sends, and the weeks they get back."""
import re
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .fields import Day, QueryInteger, StrictBoolean

# One line of plain text: no control characters, and no lone surrogates
# ("\ud800" is valid JSON but not UTF-8: the database driver would fail on it).
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]*")


def _goal_text(value: str) -> None:
    if not value.strip():
        raise ValidationError("Write the goal in a few words.")
    if not _ONE_LINE.fullmatch(value):
        raise ValidationError("Use one line of plain text: no control characters or unpaired surrogates.")


GOAL_TEXT: list[Callable[[Any], Any]] = [validate.Length(min=1, max=200), _goal_text]


class Rate(fields.Float):
    """A share (0..1 in the services) answered as a percentage, 0-100 to one decimal.

    Percent like every other share the API answers (trends, dashboards).
    """

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else round(100 * value, 1) + 0.0


class GoalCreateSchema(Schema):
    text = fields.String(required=True, validate=GOAL_TEXT, metadata={"example": "Call my sponsor twice"})


class GoalUpdateSchema(Schema):
    done = StrictBoolean()
    text = fields.String(validate=GOAL_TEXT)

    @validates_schema
    def _something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError("Send done, text or both.")


class GoalSchema(Schema):
    """A goal as stored."""

    id = fields.Integer()
    text = fields.String()
    week_start = fields.Date(metadata={"description": "The Monday of the goal's week (patient's local calendar)."})
    done = fields.Function(lambda goal: goal.done_at is not None, metadata={"type": "boolean"})
    done_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class GoalWeekQuerySchema(Schema):
    week = Day(metadata={"description": "Any day of the week wanted; default the current week."})


class GoalWeekSchema(Schema):
    """One week's goals and how many were done."""

    week_start = fields.Date(required=True)
    week_end = fields.Date(required=True)
    current = fields.Boolean(required=True, metadata={"description": "The patient's current week: goals can be added."})
    open_until = fields.Date(required=True, metadata={
        "description": "The last local day this week's goals can be marked done (the week plus a grace period).",
    })
    done = fields.Integer(required=True, attribute="completion.done")
    total = fields.Integer(required=True, attribute="completion.total")
    rate = Rate(required=True, allow_none=True, attribute="completion.rate",
                metadata={"description": "Percent of the goals done, 0-100; null for a week without goals."})
    goals = fields.List(fields.Nested(GoalSchema), required=True)


class GoalHistoryQuerySchema(Schema):
    weeks = QueryInteger(load_default=8, validate=validate.Range(min=1, max=52),
                         metadata={"description": "How many weeks, ending with the current one."})


class GoalHistorySchema(Schema):
    """A patient's recent weeks of goals, oldest first."""

    patient_id = fields.Integer(required=True)
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)
    rate = Rate(required=True, allow_none=True, metadata={
        "description": "Percent of the goals done over all the weeks; null without goals."})
    weeks = fields.List(fields.Nested(GoalWeekSchema), required=True)
