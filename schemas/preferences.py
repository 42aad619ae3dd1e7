"""Mail preferences, and the delivery ledger as admins see it."""
import re
from datetime import time

from marshmallow import Schema, fields, validate

from .common import PageQuerySchema
from .fields import Day, StrictBoolean

# The values services.preferences, services.ledger and the jobs act on.
WEEKLY_SUMMARY_CHOICES = ("detailed", "notice", "off")
DELIVERY_KINDS = ("weekly_summary", "clinician_digest", "daily_reminder", "urgent_notice", "password_reset")
DELIVERY_STATUSES = ("pending", "sending", "sent", "retry", "failed", "skipped")

_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d", re.ASCII)


class LocalTime(fields.String):
    """A wall-clock time in the patient's own zone, exactly HH:MM (24-hour)."""

    default_error_messages = {"invalid": "Use a 24-hour time, HH:MM."}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.strftime("%H:%M")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _CLOCK_TIME.fullmatch(value):
            raise self.make_error("invalid")
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))


class PreferencesSchema(Schema):
    """How the patient wants to hear from Waypoint by e-mail (PUT replaces all of it)."""

    weekly_summary = fields.String(
        required=True, validate=validate.OneOf(WEEKLY_SUMMARY_CHOICES),
        metadata={"description": "detailed: the week's figures in the e-mail; notice: \"your weekly summary "
                                 "is ready\" with a link and no figures (the default); off: no weekly e-mail."},
    )
    reminders_enabled = StrictBoolean(
        required=True, metadata={"description": "A reminder on days without a check-in by reminder_time."})
    reminder_time = LocalTime(
        required=True, metadata={"description": "Local time (the patient's zone) of the daily reminder.",
                                 "pattern": _CLOCK_TIME.pattern, "example": "19:00"})
    reminders_paused_until = Day(
        allow_none=True, load_default=None,
        metadata={"description": "No reminders up to and including this local day (null: not paused); "
                                 "today at the earliest, at most a year ahead."})
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class DeliveryQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES),
                           metadata={"description": "Only deliveries in this state, e.g. failed."})
    kind = fields.String(validate=validate.OneOf(DELIVERY_KINDS))


class DeliveryRecipientSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()
    email = fields.String()
    role = fields.Function(lambda user: user.role.value, metadata={"type": "string"})


class DeliverySchema(Schema):
    """One e-mail owed to one recipient for one period (or one urgent notice, one reset link)."""

    id = fields.Integer()
    recipient = fields.Nested(DeliveryRecipientSchema)
    kind = fields.String(metadata={"enum": list(DELIVERY_KINDS)})
    period = fields.String(metadata={
        "description": "The ISO week (2026-W47) or local day (2026-11-23) it covers; for an "
                       "urgent notice a{alert id}.{trigger}, for a reset link R{instant}."})
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True, metadata={
        "description": "The mail server's answer, or why it was skipped."})
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    message_id = fields.String(metadata={"description": "The Message-ID every attempt carries."})
