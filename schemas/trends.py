"""Trend figures as the API returns them; every figure says how many days stand behind it."""
from marshmallow import Schema, fields, validate

from .fields import QueryInteger

DIRECTIONS = ["improving", "steady", "worsening"]


class MeanFigureSchema(Schema):
    metric = fields.String()
    days = fields.Integer(metadata={"description": "Window length in local days, ending today."})
    value = fields.Float(allow_none=True)
    n = fields.Integer(metadata={"description": "Days with a check-in behind the figure."})
    n_late = fields.Integer(metadata={"description": "Of which filled in late."})


class SlopeFigureSchema(MeanFigureSchema):
    direction = fields.String(allow_none=True, validate=validate.OneOf(DIRECTIONS), metadata={
        "description": "None below 4 check-ins; improving is down for craving, up for mood and sleep."})


class ChangeFigureSchema(Schema):
    metric = fields.String()
    value = fields.Float(allow_none=True)
    mean_this = fields.Float(allow_none=True)
    mean_last = fields.Float(allow_none=True)
    n_this = fields.Integer()
    n_last = fields.Integer()


class MetricTrendSchema(Schema):
    metric = fields.String()
    mean_7 = fields.Nested(MeanFigureSchema)
    mean_28 = fields.Nested(MeanFigureSchema)
    slope_14 = fields.Nested(SlopeFigureSchema)
    week_over_week = fields.Nested(ChangeFigureSchema)
    window_days = fields.Integer()
    days_with_data = fields.Integer()
    missing_days = fields.Integer()


class PdaFigureSchema(Schema):
    days = fields.Integer()
    missing_as_use = fields.Float(allow_none=True, metadata={"description": "Percent; unreported days count as use."})
    missing_excluded = fields.Float(allow_none=True, metadata={"description": "Percent of reported days."})
    days_abstinent = fields.Integer()
    days_reported = fields.Integer()
    days_in_window = fields.Integer()
    days_late = fields.Integer()


class AbstinenceSchema(Schema):
    current_streak = fields.Integer()
    longest_streak = fields.Integer()
    pda = fields.Dict(keys=fields.String(), values=fields.Nested(PdaFigureSchema),
                      metadata={"description": "Percent days abstinent over 7, 30 and 90 days."})
    days_since_recovery_start = fields.Integer(allow_none=True)


class AdherenceFigureSchema(Schema):
    days = fields.Integer()
    percent = fields.Float(allow_none=True)
    days_reported = fields.Integer()
    days_in_window = fields.Integer()
    days_late = fields.Integer()


class SkillCountSchema(Schema):
    skill = fields.String()
    days = fields.Integer()


class SkillEffectSchema(Schema):
    skill = fields.String()
    mean_with = fields.Float(allow_none=True)
    mean_without = fields.Float(allow_none=True)
    difference = fields.Float(allow_none=True, metadata={
        "description": "Next-day craving with minus without; none under 5 days a side."})
    n_with = fields.Integer()
    n_without = fields.Integer()


# The figures arrive as the JSON-ready dicts of services.trends, dates already
# in ISO form; these fields document them without parsing them again.
IsoDate = lambda **kw: fields.String(metadata={"format": "date"}, **kw)  # noqa: E731


class TrendsSchema(Schema):
    today = IsoDate()
    recovery_start = IsoDate(allow_none=True)
    window_days = fields.Integer()
    last_checkin = IsoDate(allow_none=True)
    metrics = fields.Dict(keys=fields.String(), values=fields.Nested(MetricTrendSchema))
    abstinence = fields.Nested(AbstinenceSchema)
    adherence_7 = fields.Nested(AdherenceFigureSchema)
    adherence = fields.Nested(AdherenceFigureSchema)
    coping_skills = fields.List(fields.Nested(SkillCountSchema))
    what_helps = fields.List(fields.Nested(SkillEffectSchema))


class TrendsQuerySchema(Schema):
    window = QueryInteger(load_default=28, validate=validate.Range(7, 90), metadata={
        "description": "Days for the adherence, coping-skill and missing-day figures (7-90)."})
