"""Treatment sessions: what the care team records, and the weekly summary."""
import re

from marshmallow import Schema, ValidationError, fields, validate

from models import AttendanceStatus, LevelOfCare, SessionKind

from .common import PageQuerySchema
from .fields import Day, QueryInteger, StrictFloat, quarter_hours
from .goal import Rate

# Free text may span lines, but holds no other control characters (PostgreSQL
# refuses NUL) and no lone surrogates (valid JSON, but not UTF-8).
_TEXT = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]*")


def _plain_text(value: str) -> None:
    if not _TEXT.fullmatch(value):
        raise ValidationError("Use plain text: no control characters or unpaired surrogates.")


class AttendanceEntrySchema(Schema):
    """One session, as the care team records it."""

    session_date = Day(required=True, metadata={"description": "The patient's local day; not in the future."})
    kind = fields.Enum(SessionKind, by_value=True, required=True)
    status = fields.Enum(AttendanceStatus, by_value=True, required=True)
    hours = StrictFloat(required=True, validate=[validate.Range(0, 12), quarter_hours], metadata={
        "description": "Attended: the time the patient was there (more than 0). Missed or excused: "
                       "the scheduled length, 0 when unknown. Steps of 0.25; only attended hours count "
                       "toward the plan.",
        "multipleOf": 0.25,
    })
    note = fields.String(allow_none=True, validate=[validate.Length(max=500), _plain_text])


class AttendanceRecordSchema(AttendanceEntrySchema):
    """A recorded session."""

    id = fields.Integer(dump_only=True)
    patient_id = fields.Integer(dump_only=True)
    recorded_by_id = fields.Integer(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)


class AttendanceRangeQuerySchema(PageQuerySchema):
    date_from = Day(data_key="from")
    date_to = Day(data_key="to")


class AttendanceSummaryQuerySchema(Schema):
    weeks = QueryInteger(load_default=8, validate=validate.Range(min=1, max=52),
                         metadata={"description": "How many weeks, ending with the current one."})


_RATE = "Percent, 100 * attended / (attended + missed); excused sessions are left out; null when neither happened."


class WeekAttendanceSchema(Schema):
    """One week (Monday to Sunday, the patient's local calendar) against the plan."""

    week_start = fields.Date(required=True)
    week_end = fields.Date(required=True)
    in_progress = fields.Boolean(required=True, metadata={"description": "The current week, not over yet."})
    level_of_care = fields.Enum(LevelOfCare, by_value=True, required=True,
                                metadata={"description": "In effect on the week's Monday."})
    attended = fields.Integer(required=True)
    missed = fields.Integer(required=True)
    excused = fields.Integer(required=True)
    attendance_rate = Rate(required=True, allow_none=True, metadata={"description": _RATE})
    hours_attended = fields.Float(required=True)
    hours_missed = fields.Float(required=True)
    hours_excused = fields.Float(required=True)
    planned_hours_min = fields.Float(required=True)
    planned_hours_max = fields.Float(required=True)
    plan_status = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(["below", "within", "above"]),
        metadata={"description": "Hours attended against the plan; null for the current week and "
                                 "for a week that began before treatment started."},
    )


class AttendanceSummarySchema(Schema):
    """A patient's recent weeks of attendance, oldest first, with totals."""

    patient_id = fields.Integer(required=True)
    level_of_care = fields.Enum(LevelOfCare, by_value=True, required=True,
                                metadata={"description": "The current week's level of care."})
    attended = fields.Integer(required=True)
    missed = fields.Integer(required=True)
    excused = fields.Integer(required=True)
    attendance_rate = Rate(required=True, allow_none=True, metadata={"description": _RATE})
    hours_attended = fields.Float(required=True)
    weeks = fields.List(fields.Nested(WeekAttendanceSchema), required=True)
