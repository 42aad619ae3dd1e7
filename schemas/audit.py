"""The audit log as admins read it: filters in, events out."""
import re
from datetime import date, datetime, time, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .common import PageQuerySchema
from .fields import FullMatch, QueryRecordId

OUTCOMES = ["allowed", "denied", "failed"]
ACTIONS_TEXT = ("read, write, export, disclose, login, register, refresh, logout, logout_everywhere, "
                "password_change, disable_account or enable_account.")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


class DayOrInstant(fields.String):
    """A calendar day (YYYY-MM-DD, a whole UTC day) or an instant with its offset (RFC 3339)."""

    default_error_messages = {
        "invalid": "Use a day (YYYY-MM-DD) or an instant with its offset (2026-11-23T17:00:00Z).",
        "range": "Use a year from 2000 to 9998.",
    }

    # A String on the wire, a day or an instant once read: the narrowing is the point.
    def _deserialize(self, value, attr, data, **kwargs) -> date | datetime:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if _DAY.fullmatch(text):
                parsed = date.fromisoformat(text)
            elif _INSTANT.fullmatch(text):
                parsed = datetime.fromisoformat(text)
            else:
                raise ValueError(text)
        except ValueError:
            raise self.make_error("invalid") from None
        # The next day, or the instant in UTC, must still be on the calendar
        # (9999-12-31 + 1 day overflowed into a 500); no event predates 2000.
        if not 2000 <= parsed.year <= 9998:
            raise self.make_error("range")
        return parsed


class AuditQuerySchema(PageQuerySchema):
    actor_id = QueryRecordId(metadata={"description": "Only what this user did."})
    patient_id = QueryRecordId(metadata={"description": "Only events about this patient."})
    action = fields.String(validate=FullMatch(r"^[a-z_]{1,40}$"), metadata={"description": ACTIONS_TEXT})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    occurred_from = DayOrInstant(data_key="from", metadata={
        "description": "From this instant, or the start of this UTC day (inclusive)."})
    occurred_to = DayOrInstant(data_key="to", metadata={
        "description": "Up to this instant, or the end of this UTC day (inclusive)."})

    @validates_schema
    def _from_not_after_to(self, data, **_kwargs):
        start, end = data.get("occurred_from"), data.get("occurred_to")
        if start is None or end is None:
            return
        start = start if isinstance(start, datetime) else _start_of(start)
        # An instant bound is inclusive; a day ends where the next one starts.
        empty = start > end if isinstance(end, datetime) else start >= _start_of(end + timedelta(days=1))
        if empty:
            raise ValidationError("Must not be before 'from'.", "to")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


class AuditEventSchema(Schema):
    """One read or write of patient data, or a refused attempt; never changed once written."""

    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True, metadata={"description": "None for an anonymous attempt."})
    actor_role = fields.String(allow_none=True)
    action = fields.String(metadata={"description": ACTIONS_TEXT})
    resource = fields.String(metadata={"description": "The route, as blueprint.View (e.g. checkins.PatientCheckins)."})
    patient_id = fields.Integer(allow_none=True, metadata={
        "description": "The patient whose records were touched; None for a view over many (see detail.patient_ids)."})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    status_code = fields.Integer(allow_none=True)
    client_address = fields.String(allow_none=True)
    detail = fields.Dict(metadata={
        "description": "Method, record ids, page; for a list, the count and ids shown. Never patient data."})
