"""Alerts: what the care team's inbox lists, and the notes that move an alert along."""
import re

from marshmallow import Schema, ValidationError, fields, validate

from models import AlertSeverity, AlertStatus

from .common import PageQuerySchema
from .fields import QueryRecordId, Text

# Plain text that may span lines: no other control characters, and no lone
# surrogates ("\ud800" is valid JSON but not UTF-8; the driver would fail on it).
_NOTE_TEXT = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]*")


def _plain_text(value: str) -> None:
    if not _NOTE_TEXT.fullmatch(value):
        raise ValidationError("Use plain text, without control characters or unpaired surrogates.")


class AlertQuerySchema(PageQuerySchema):
    status = fields.Enum(AlertStatus, by_value=True, metadata={
        "description": "Only alerts in this state. Without it: open and acknowledged, the ones still "
                       "to work.",
    })
    severity = fields.Enum(AlertSeverity, by_value=True)
    patient_id = QueryRecordId(metadata={
        "description": "Only this patient's alerts; a patient out of reach answers 404.",
    })


class AlertNoteSchema(Schema):
    """What a clinician adds when acknowledging or resolving an alert."""

    note = Text(allow_none=True, validate=[validate.Length(max=1000), _plain_text],
                metadata={"description": "Optional; blank is stored as none."})


class AlertPatientSchema(Schema):
    id = fields.Integer(required=True)
    display_name = fields.String(required=True)


class AlertSchema(Schema):
    """An alert: a rule that fired for a patient, and who has done what about it."""

    id = fields.Integer(required=True)
    patient = fields.Nested(AlertPatientSchema, required=True)
    rule = fields.String(required=True, metadata={
        "description": "self_harm, phq9_item9, substance_use, craving_spike, mood_worsening, short_sleep, "
                       "disengagement, missed_sessions, phq9_worsening, gad7_worsening or bam_risk.",
    })
    severity = fields.Enum(AlertSeverity, by_value=True, required=True)
    status = fields.Enum(AlertStatus, by_value=True, required=True)
    summary = fields.String(required=True,
                            metadata={"description": "Figures and dates; never the patient's own words."})
    evidence = fields.Dict(required=True, metadata={"description": "What the rule saw, by rule."})
    local_day = fields.Date(required=True,
                            metadata={"description": "The patient's local day of the latest trigger."})
    first_triggered_at = fields.DateTime(required=True)
    last_triggered_at = fields.DateTime(required=True)
    trigger_count = fields.Integer(required=True,
                                   metadata={"description": "Triggers while it was open or acknowledged."})
    acknowledged_at = fields.DateTime(required=True, allow_none=True)
    acknowledged_by_id = fields.Integer(required=True, allow_none=True)
    acknowledge_note = fields.String(required=True, allow_none=True)
    resolved_at = fields.DateTime(required=True, allow_none=True)
    resolved_by_id = fields.Integer(required=True, allow_none=True)
    resolve_note = fields.String(required=True, allow_none=True)
