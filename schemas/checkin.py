from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models import SUBSTANCES, TRIGGERS

from .assessment import CrisisResourcesSchema
from .catalogue import CODE
from .common import PageQuerySchema, ProblemSchema, QuickDump
from .fields import LARGEST_ID, Day, StrictBoolean, StrictFloat, StrictInteger, Text, quarter_hours


class CheckinContentSchema(Schema):
    """What a patient reports about one day."""

    craving = StrictInteger(required=True, validate=validate.Range(0, 10),
                            metadata={"description": "0 none, 10 strongest."})
    mood = StrictInteger(required=True, validate=validate.Range(0, 10),
                         metadata={"description": "0 worst, 10 best."})
    sleep_hours = StrictFloat(required=True, validate=[validate.Range(0, 24), quarter_hours],
                              metadata={"description": "Hours slept, in steps of 0.25.", "multipleOf": 0.25})
    sleep_quality = StrictInteger(allow_none=True, validate=validate.Range(1, 5))
    used_substance = StrictBoolean(required=True)
    substances = fields.List(fields.String(validate=validate.OneOf(SUBSTANCES)),
                             validate=validate.Length(max=len(SUBSTANCES)))
    coping_skills = fields.List(fields.String(validate=CODE), validate=validate.Length(max=30),
                                metadata={"description": "Codes from the organization's catalogue."})
    custom_coping_skills = fields.List(Text(validate=validate.Length(min=1, max=80)),
                                       validate=validate.Length(max=10))
    triggers = fields.List(fields.String(validate=validate.OneOf(TRIGGERS)),
                           validate=validate.Length(max=len(TRIGGERS)))
    medication_taken = StrictBoolean(allow_none=True, metadata={"description": "MOUD taken as prescribed."})
    self_harm_thoughts = StrictBoolean(allow_none=True)
    note = Text(allow_none=True, validate=validate.Length(max=1000))

    @validates_schema
    def _substances_only_with_use(self, data, **kwargs):
        if data.get("substances") and data.get("used_substance") is False:
            raise ValidationError("Leave empty when used_substance is false.", "substances")


class CheckinSchema(QuickDump, CheckinContentSchema):
    """A stored check-in as the API returns it."""

    class Meta:
        exclude = ()

    patient_id = fields.Integer(dump_only=True)
    date = fields.Date(attribute="day", dump_only=True)
    late = fields.Boolean(dump_only=True, metadata={"description": "Written after its day had ended."})
    version = fields.Integer(dump_only=True, metadata={"description": "Send it back in If-Match to edit."})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CheckinWriteSchema(CheckinSchema):
    """A written check-in; carries crisis resources when the day reports self-harm thoughts."""

    crisis_resources = fields.Nested(CrisisResourcesSchema, allow_none=True, dump_only=True)


class IfMatchSchema(Schema):
    if_match = fields.String(
        data_key="If-Match", validate=validate.Length(max=200),
        metadata={"description": "The ETag you read; required to change an existing day."},
    )


class CheckinRangeQuerySchema(PageQuerySchema):
    date_from = Day(data_key="from")
    date_to = Day(data_key="to")


class SyncEntrySchema(CheckinContentSchema):
    """One day of an offline queue."""

    date = Day(required=True)
    base_version = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=LARGEST_ID), metadata={
        "description": "The version this edit was based on; needed to change a day that exists.",
    })


class SyncRequestSchema(Schema):
    # Entries are validated one by one in the view, so one malformed day is
    # refused on its own instead of blocking the whole queue forever.
    checkins = fields.List(
        fields.Dict(), required=True, validate=validate.Length(min=1, max=100),
        metadata={"items_schema": "SyncEntry"},
    )


class SyncOutcomeSchema(Schema):
    date = fields.String(allow_none=True, metadata={"description": "The entry's date as sent."})
    outcome = fields.String(
        required=True, validate=validate.OneOf(["created", "updated", "unchanged", "refused"])
    )
    status = fields.Integer(required=True, metadata={"description": "The status a single PUT would have had."})
    checkin = fields.Nested(CheckinSchema, allow_none=True)
    crisis_resources = fields.Nested(CrisisResourcesSchema, allow_none=True)
    problem = fields.Nested(ProblemSchema, allow_none=True, metadata={"description": "Problem details when refused."})


class SyncResponseSchema(Schema):
    results = fields.List(fields.Nested(SyncOutcomeSchema), required=True)
