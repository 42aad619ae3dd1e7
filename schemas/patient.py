from marshmallow import Schema, fields, validate

from models import LevelOfCare

from .catalogue import ProgramSchema
from .fields import Day, RecordId, Text


class EnrolmentSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    display_name = Text(required=True, validate=validate.Length(min=1, max=120))
    timezone = Text(
        required=True, validate=validate.Length(min=1, max=64),
        metadata={"description": "IANA time zone; decides the patient's local day.", "example": "America/New_York"},
    )
    level_of_care = fields.Enum(LevelOfCare, by_value=True, required=True)
    program_id = RecordId(allow_none=True)
    recovery_start_date = Day(allow_none=True)


class StaffRefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class ClinicianSchema(StaffRefSchema):
    """A clinician of the organization, as an admin picks care teams from them."""

    email = fields.String()


class LevelOfCareChangeSchema(Schema):
    level_of_care = fields.Enum(LevelOfCare, by_value=True, required=True)
    effective_date = Day(allow_none=True, metadata={"description": "Defaults to the patient's today."})
    note = Text(allow_none=True, validate=validate.Length(max=500))
    changed_by = fields.Nested(StaffRefSchema, dump_only=True)
    changed_at = fields.DateTime(dump_only=True)


class PatientSchema(Schema):
    id = fields.Integer(attribute="user_id")
    email = fields.String(attribute="user.email")
    display_name = fields.String(attribute="user.display_name")
    timezone = fields.String()
    recovery_start_date = fields.Date(allow_none=True)
    level_of_care = fields.Enum(LevelOfCare, by_value=True)
    program = fields.Nested(ProgramSchema, allow_none=True)
    registered = fields.Method(
        "_registered", metadata={"type": "boolean", "description": "Whether the patient has used the invite."}
    )
    enrolled_at = fields.DateTime()
    care_team = fields.Method(
        "_care_team", metadata={"type": "array", "items": {"$ref": "#/components/schemas/StaffRef"}})
    level_of_care_history = fields.List(fields.Nested(LevelOfCareChangeSchema))

    def _registered(self, profile) -> bool:
        return profile.user.password_hash is not None

    def _care_team(self, profile) -> list:
        return StaffRefSchema(many=True).dump([m.clinician for m in profile.care_team_members])


class InviteSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Shown once; give it to the patient."})
    expires_at = fields.DateTime(required=True)


class EnrolmentResultSchema(Schema):
    patient = fields.Nested(PatientSchema, required=True)
    invite = fields.Nested(InviteSchema, required=True)


class CareTeamSchema(Schema):
    clinician_ids = fields.List(
        RecordId(), required=True,
        validate=validate.Length(min=1, max=20),
    )


class OwnProfileSchema(PatientSchema):
    """The patient's own profile as /me shows it."""

    class Meta:
        exclude = ("care_team", "level_of_care_history")


class OrganizationRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class MeSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    role = fields.String(attribute="role.value")
    organization = fields.Nested(OrganizationRefSchema)
    patient = fields.Nested(OwnProfileSchema, attribute="patient_profile", allow_none=True)
