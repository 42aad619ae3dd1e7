"""A patient's week in figures, as the weekly e-mail tells it (GET /me/weekly-summary)."""
from marshmallow import Schema, fields

from .fields import FullMatch

WEEK_PATTERN = r"^\d{4}-W\d{2}$"


class WeeklySummaryQuerySchema(Schema):
    week = fields.String(
        validate=FullMatch(WEEK_PATTERN, error="Use an ISO week such as 2026-W47."),
        metadata={"description": "The ISO week, e.g. 2026-W47 (the weekly e-mail's link names it); "
                                 "default: last week in the patient's own time zone.",
                  "pattern": WEEK_PATTERN, "example": "2026-W47"})


class WeekDaySchema(Schema):
    day = fields.Date()
    checked_in = fields.Boolean()
    craving = fields.Integer(allow_none=True)
    mood = fields.Integer(allow_none=True)
    sleep_hours = fields.Float(allow_none=True)
    used_substance = fields.Boolean(allow_none=True)


class MetricWeekSchema(Schema):
    metric = fields.String(metadata={"enum": ["craving", "mood", "sleep_hours"]})
    label = fields.String()
    this_week = fields.Float(allow_none=True, metadata={"description": "Mean of this week's check-ins."})
    last_week = fields.Float(allow_none=True)
    n_this = fields.Integer()
    n_last = fields.Integer()
    change = fields.Float(allow_none=True, metadata={
        "description": "This week minus last; null unless both have check-ins."})
    direction = fields.String(allow_none=True, metadata={"enum": ["better", "worse", "same"]})


class SkillDaysSchema(Schema):
    label = fields.String()
    days = fields.Integer()


class HelpfulSkillSchema(Schema):
    code = fields.String()
    label = fields.String()
    craving_lower_by = fields.Float(metadata={"description": "Points less craving the next day."})
    days_with = fields.Integer()


class WeeklySummarySchema(Schema):
    """The figures of one week; the same function builds the weekly e-mail's."""

    period = fields.String(metadata={"example": "2026-W47"})
    week_start = fields.Date()
    week_end = fields.Date()
    days = fields.List(fields.Nested(WeekDaySchema), metadata={"description": "Monday to Sunday."})
    checkins = fields.Integer()
    metrics = fields.List(fields.Nested(MetricWeekSchema))
    days_used = fields.Integer()
    days_abstinent = fields.Integer()
    current_streak = fields.Integer(metadata={"description": "Abstinent days in a row as of the week's last day."})
    longest_streak = fields.Integer()
    pda_30 = fields.Float(allow_none=True, metadata={
        "description": "Percent of reported days abstinent over the 30 days to the week's end."})
    pda_30_days_reported = fields.Integer()
    skills_practised = fields.List(fields.Nested(SkillDaysSchema))
    skills_that_helped = fields.List(fields.Nested(HelpfulSkillSchema))
    goals_done = fields.Integer()
    goals_total = fields.Integer()
    questionnaires_due = fields.List(fields.String())
    tone = fields.String(metadata={"enum": ["start", "care", "steady", "celebrate"]})
    encouragement = fields.String()
