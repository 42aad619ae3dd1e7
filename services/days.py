"""Local calendar days: a patient's "today" is decided by their own time zone."""
from datetime import date, datetime
from zoneinfo import ZoneInfo, available_timezones

_KNOWN_ZONES = frozenset(available_timezones())


def is_known_timezone(name: str) -> bool:
    """Tell whether name is an IANA time zone this machine knows."""
    return name in _KNOWN_ZONES


def local_today(now: datetime, timezone: str) -> date:
    """Return the calendar day it is at instant now in the given IANA zone."""
    return now.astimezone(ZoneInfo(timezone)).date()
