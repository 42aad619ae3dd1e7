"""Small HTTP helpers shared by the resources: path days, versions, pages."""
import re
from datetime import date

from flask_jwt_extended import current_user
from werkzeug.routing import BaseConverter, IntegerConverter

from models import Checkin, Role, User
from services.errors import InvalidInput, NotAllowed


class RecordIdConverter(IntegerConverter):
    """A record id in a URL: a whole number that fits the database's integer.

    Without the bound, /patients/99999999999999999999 reaches the driver and
    overflows into a 500; with it, the route simply does not match (404).
    """

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


class DayConverter(BaseConverter):
    """A local calendar day in a URL, YYYY-MM-DD; parsed (and refused) in the view."""

    regex = r"[^/]+"


# Exactly YYYY-MM-DD: date.fromisoformat would also take "20261123" and
# ISO week dates ("2026-W48-1"), which the contract does not promise.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_day(value: str, field: str = "date") -> date:
    """Return the date in value, or refuse it as a field error."""
    try:
        if not _DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("Not a date.", {field: ["Use a calendar date, YYYY-MM-DD."]}) from None


def etag(checkin: Checkin) -> str:
    """Return the ETag of a check-in: its version, quoted."""
    return f'"{checkin.version}"'


def parse_if_match(header: str | None) -> list[str] | None:
    """Return the versions an If-Match header names, ["*"], or None if absent.

    If-Match compares strongly (RFC 9110 13.1.1): a weak tag (W/"2") never
    matches, so a header of weak tags alone names no version and gets 412.
    """
    if header is None or not header.strip():
        return None
    if header.strip() == "*":
        return ["*"]
    versions = []
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            continue
        tag = tag.strip('"')
        if tag:
            versions.append(tag)
    return versions


def page_of(items, total: int, paging: dict) -> dict:
    """Return the page envelope for a list response."""
    return {"items": items, "total": total, "page": paging["page"], "page_size": paging["page_size"]}


def current_patient() -> User:
    """Return the caller if they are a patient (for /me/... patient routes)."""
    if current_user.role is not Role.patient or current_user.patient_profile is None:
        raise NotAllowed("Only patients have check-ins of their own.")
    return current_user
