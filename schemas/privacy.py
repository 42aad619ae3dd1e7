"""Consent, the accounting of disclosures, and exports of a patient's records."""
import re

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from models import AttendanceStatus, ConsentScope, SessionKind

from .assessment import AssessmentSubscaleScoreSchema
from .checkin import CheckinSchema
from .fields import RecordId

EXPORT_FORMATS = ("json", "csv", "fhir")
OUTSIDE_SCOPES = (ConsentScope.outside_provider.value, ConsentScope.support_person.value)
# One line of plain text: no control characters, no unpaired surrogates.
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]*")


def _one_line(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")
    if not _ONE_LINE.fullmatch(value):
        raise ValidationError("Use one line of plain text, without control characters.")


class ConsentGrantSchema(Schema):
    """A patient's consent to share their records with someone outside the program."""

    scope = fields.String(required=True, validate=validate.OneOf(
        OUTSIDE_SCOPES, error="Choose outside_provider or support_person; sharing with your care "
                              "team is part of enrolment."),
        metadata={"enum": list(OUTSIDE_SCOPES)})
    recipient_name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _one_line],
                                   metadata={"example": "Dr. Ana Rivera, Eastside Family Medicine"})
    recipient_kind = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={
        "description": "outside_provider: physician, therapist, hospital, pharmacy, treatment_program "
                       "or other_provider. support_person: family_member, partner, friend, sponsor "
                       "or other_person.",
        "example": "physician",
    })
    purpose = fields.String(required=True, validate=[validate.Length(min=1, max=300), _one_line],
                            metadata={"example": "Coordinate medication for opioid use disorder"})
    expires_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "When the consent ends, with a UTC offset; in the future. Omit for until revoked."})


class ConsentSchema(Schema):
    """One consent with its status now."""

    id = fields.Integer(allow_none=True, metadata={
        "description": "Null for the care-team consent, which comes with enrolment and is not stored."})
    scope = fields.Enum(ConsentScope, by_value=True)
    recipient_name = fields.String()
    recipient_kind = fields.String()
    purpose = fields.String()
    granted_at = fields.DateTime(metadata={"description": "The care-team consent: the enrolment."})
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    status = fields.String(validate=validate.OneOf(["active", "revoked", "expired"]))
    revocable = fields.Boolean(metadata={
        "description": "The patient can revoke it in the app (never the care-team consent)."})


class ConsentOverviewSchema(Schema):
    """Who may see a patient's records: the care team, and anyone outside the program they consented to."""

    patient_id = fields.Integer(required=True)
    care_team = fields.Nested(ConsentSchema, required=True)
    outside_program = fields.List(fields.Nested(ConsentSchema), required=True,
                                  metadata={"description": "Newest first, revoked and expired ones too."})


class DisclosureSchema(Schema):
    """One entry of the accounting of disclosures."""

    id = fields.Integer()
    consent_id = fields.Integer()
    disclosed_at = fields.DateTime()
    disclosed_by = fields.String(metadata={"description": "The staff member who made the disclosure."})
    recipient_name = fields.String()
    recipient_kind = fields.String()
    purpose = fields.String(allow_none=True)
    format = fields.String(attribute="data_format", validate=validate.OneOf(EXPORT_FORMATS))
    description = fields.String(metadata={"description": "What the disclosure held."})


class DisclosureRequestSchema(Schema):
    consent_id = RecordId(required=True, metadata={
        "description": "The patient's active consent to share outside the program."})
    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class ExportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(EXPORT_FORMATS), metadata={
        "description": "json: the whole record; csv: the check-ins, one row per day; fhir: a FHIR R4 "
                       "Bundle."})


class ExportPatientSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()
    email = fields.String(metadata={"description": "Only in the patient's own export."})
    timezone = fields.String(metadata={"description": "Only in the patient's own export."})
    organization = fields.String()
    program = fields.String(allow_none=True)
    level_of_care = fields.String()
    recovery_start_date = fields.Date(allow_none=True)
    enrolled_at = fields.DateTime()


class ExportDisclosureSchema(Schema):
    id = fields.Integer(allow_none=True)
    disclosed_at = fields.DateTime()
    recipient_name = fields.String()
    recipient_kind = fields.String()
    purpose = fields.String(allow_none=True)
    consent_granted_at = fields.DateTime()
    consent_expires_at = fields.DateTime(allow_none=True)
    consent_scope = fields.String()


class ExportAnswerSchema(Schema):
    id = fields.String()
    text = fields.String(allow_none=True)
    answer = fields.Raw(metadata={"description": "As sent: a number, or a list of codes.",
                                  "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]})
    label = fields.Raw(allow_none=True, metadata={
        "description": "The chosen option's wording (a list for a list).",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]})
    points = fields.Integer(allow_none=True)


class ExportBandSchema(Schema):
    code = fields.String()
    label = fields.String()


class ExportQuestionnaireSchema(Schema):
    id = fields.Integer()
    instrument = fields.String()
    name = fields.String()
    local_day = fields.Date()
    submitted_at = fields.DateTime()
    total = fields.Integer(allow_none=True)
    band = fields.Nested(ExportBandSchema, allow_none=True)
    subscales = fields.Dict(keys=fields.String(), values=fields.Nested(AssessmentSubscaleScoreSchema))
    item9 = fields.Integer(allow_none=True)
    crisis = fields.Boolean()
    items = fields.List(fields.Nested(ExportAnswerSchema))


class ExportGoalSchema(Schema):
    week_start = fields.Date()
    text = fields.String()
    done = fields.Function(lambda goal: goal.done_at is not None, metadata={"type": "boolean"})
    done_at = fields.DateTime(allow_none=True)


class ExportAttendanceSchema(Schema):
    session_date = fields.Date()
    kind = fields.Enum(SessionKind, by_value=True)
    status = fields.Enum(AttendanceStatus, by_value=True)
    hours = fields.Float()


class ExportDocumentSchema(Schema):
    """A patient's records as one JSON document, oldest first, with the Part 2 notice."""

    generated_at = fields.DateTime(required=True)
    notice = fields.String(required=True, metadata={"description": "The 42 CFR 2.32 redisclosure notice."})
    notice_context = fields.String(required=True)
    patient = fields.Nested(ExportPatientSchema, required=True)
    disclosure = fields.Nested(ExportDisclosureSchema, allow_none=True, metadata={
        "description": "Null in the patient's own export."})
    checkins = fields.List(fields.Nested(CheckinSchema), required=True)
    questionnaires = fields.List(fields.Nested(ExportQuestionnaireSchema), required=True)
    goals = fields.List(fields.Nested(ExportGoalSchema), required=True)
    attendance = fields.List(fields.Nested(ExportAttendanceSchema), required=True)


class FhirResourceSchema(Schema):
    """A FHIR R4 resource (Patient, Observation, QuestionnaireResponse, Goal, Encounter); its fields are FHIR's."""

    class Meta:
        unknown = INCLUDE

    resourceType = fields.String(required=True)
    id = fields.String(required=True)


class FhirEntrySchema(Schema):
    fullUrl = fields.String(required=True)
    resource = fields.Nested(FhirResourceSchema, required=True)


class FhirCodingSchema(Schema):
    system = fields.String(required=True)
    code = fields.String(required=True)
    display = fields.String()


class FhirExtensionSchema(Schema):
    url = fields.String(required=True)
    valueString = fields.String(required=True)


class FhirBundleMetaSchema(Schema):
    security = fields.List(fields.Nested(FhirCodingSchema), required=True, metadata={
        "description": "Restricted; 42 CFR Part 2; no redisclosure without consent."})
    extension = fields.List(fields.Nested(FhirExtensionSchema), required=True, metadata={
        "description": "The redisclosure notice (and, when disclosed, what the consent allows)."})


class FhirBundleSchema(Schema):
    """A FHIR R4 Bundle of type collection: the records, with the Part 2 notice in meta."""

    class Meta:
        unknown = INCLUDE

    resourceType = fields.String(required=True, validate=validate.OneOf(["Bundle"]))
    id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["collection"]))
    timestamp = fields.String(required=True)
    meta = fields.Nested(FhirBundleMetaSchema, required=True)
    entry = fields.List(fields.Nested(FhirEntrySchema), required=True)


class DisclosedRecordsSchema(Schema):
    """A disclosure outside the program: the file, the Part 2 notice and the consent behind it."""

    disclosure = fields.Nested(DisclosureSchema, required=True)
    notice = fields.String(required=True, metadata={
        "description": "The 42 CFR 2.32 redisclosure notice; it must accompany the records."})
    consent = fields.Nested(ConsentSchema, required=True)
    consent_scope = fields.String(required=True, metadata={
        "description": "What the consent allows, to accompany the records (42 CFR 2.32(b))."})
    format = fields.String(required=True, attribute="export.format")
    content_type = fields.String(required=True, attribute="export.content_type")
    filename = fields.String(required=True, attribute="export.filename")
    document = fields.Method("_document", required=True, metadata={
        "description": "json: the export document (with the notice); fhir: a FHIR R4 Bundle (the notice "
                       "in meta); csv: the CSV text (send the notice with it).",
        "anyOf": [{"$ref": "#/components/schemas/ExportDocument"}, {"$ref": "#/components/schemas/FhirBundle"},
                  {"type": "string"}]})

    def _document(self, disclosed):
        if disclosed.export.format == "json":
            return ExportDocumentSchema().dump(disclosed.export.content)
        return disclosed.export.content
