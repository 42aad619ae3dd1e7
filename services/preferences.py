"""A person's mail preferences, and unsubscribing from one kind of e-mail without logging in.

A patient chooses their weekly summary ("detailed", "notice" or "off") and
their daily reminder (on or off, the local time, a pause); a clinician's
digest follows the same weekly setting. Every scheduled e-mail carries a
signed link (``unsubscribe_link``) that turns off the kind it came with:
the page shows what it would turn off, and a button (or a mail client's
one-click unsubscribe) does it. The jobs and composers read the choices
through ``preferences_by_user`` at the moment they decide and again when
they compose.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from models import NotificationPreference, Role, User, db

from .days import local_today
from .errors import InvalidInput, NotAllowed, NotFound
from .ledger import CLINICIAN_DIGEST, DAILY_REMINDER, WEEKLY_SUMMARY
from .mail import public_link

MAX_PAUSE_DAYS = 366
_PREFERENCE_COLUMNS = NotificationPreference.__table__.c


@dataclass(frozen=True)
class Preferences:
    """A user's mail preferences; the defaults when they never set any."""

    weekly_summary: str = _PREFERENCE_COLUMNS.weekly_summary.default.arg
    reminders_enabled: bool = _PREFERENCE_COLUMNS.reminders_enabled.default.arg
    reminder_time: time = _PREFERENCE_COLUMNS.reminder_time.default.arg
    reminders_paused_until: date | None = None
    updated_at: datetime | None = None

    def reminders_on(self, day: date) -> bool:
        """Tell whether a reminder may go out on a local day (paused through reminders_paused_until)."""
        paused = self.reminders_paused_until is not None and day <= self.reminders_paused_until
        return self.reminders_enabled and not paused


def preferences_from(row: NotificationPreference | None) -> Preferences:
    """Return the preferences a row holds; the defaults for no row."""
    if row is None:
        return Preferences()
    return Preferences(row.weekly_summary, row.reminders_enabled, row.reminder_time,
                       row.reminders_paused_until, row.updated_at)


def preferences_of(user: User) -> Preferences:
    """Return the user's mail preferences."""
    return preferences_from(db.session.get(NotificationPreference, user.id))


def preferences_by_user(user_ids: Iterable[int]) -> dict[int, Preferences]:
    """Return many users' preferences in one statement; every id asked for is a key."""
    ids = list(dict.fromkeys(user_ids))
    found = {row.user_id: preferences_from(row) for row in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id.in_(ids)))} if ids else {}
    return {user_id: found.get(user_id, Preferences()) for user_id in ids}


def update_preferences(patient: User, changes: Mapping[str, Any], now: datetime) -> Preferences:
    """Replace a patient's mail preferences; refuse a pause in the past or over a year ahead."""
    if patient.role is not Role.patient or patient.patient_profile is None:
        raise NotAllowed("Only patients set mail preferences here.")
    paused_until = changes.get("reminders_paused_until")
    if paused_until is not None:
        today = local_today(now, patient.patient_profile.timezone)
        if paused_until < today:
            raise InvalidInput("The pause ends in the past.", {
                "reminders_paused_until": [f"Use today ({today.isoformat()}) or a later day, or null."]})
        if paused_until > today + timedelta(days=MAX_PAUSE_DAYS):
            raise InvalidInput("The pause is too long.", {
                "reminders_paused_until": [f"Pause for at most {MAX_PAUSE_DAYS} days."]})
    row = _preference_row(patient.id)
    row.weekly_summary = changes["weekly_summary"]
    row.reminders_enabled = changes["reminders_enabled"]
    row.reminder_time = changes["reminder_time"]
    row.reminders_paused_until = paused_until
    row.updated_at = now
    db.session.flush()
    return preferences_from(row)


def _preference_row(user_id: int) -> NotificationPreference:
    row = db.session.get(NotificationPreference, user_id, with_for_update=True)
    if row is None:
        defaults = Preferences()
        row = NotificationPreference(
            user_id=user_id, weekly_summary=defaults.weekly_summary,
            reminders_enabled=defaults.reminders_enabled, reminder_time=defaults.reminder_time,
        )
        db.session.add(row)
    return row


# --- unsubscribing without logging in ----------------------------------------------------------------

UNSUBSCRIBE_SALT = "waypoint-unsubscribe"
# What each kind of e-mail's link turns off, in words for the confirmation page.
UNSUBSCRIBE_SCOPES = {
    WEEKLY_SUMMARY: "weekly summary e-mails",
    CLINICIAN_DIGEST: "weekly caseload digest e-mails",
    DAILY_REMINDER: "daily check-in reminder e-mails",
}


@dataclass(frozen=True)
class Unsubscription:
    """Who a link unsubscribes, and from what."""

    user: User
    scope: str
    already: bool  # nothing left to turn off

    @property
    def what(self) -> str:
        """Say in words what the link turns off."""
        return UNSUBSCRIBE_SCOPES[self.scope]


def _serializer() -> URLSafeSerializer:
    config = current_app.config
    return URLSafeSerializer(config.get("SECRET_KEY") or config["JWT_SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int, scope: str) -> str:
    """Return a signed token that unsubscribes one user from one kind of e-mail (no expiry)."""
    if scope not in UNSUBSCRIBE_SCOPES:
        raise ValueError(scope)
    return _serializer().dumps([user_id, scope])


def unsubscribe_link(user_id: int, scope: str) -> str:
    """Return the address of the unsubscribe page for one user and kind of e-mail."""
    return public_link(f"/api/v1/unsubscribe/{unsubscribe_token(user_id, scope)}")


def read_unsubscribe_token(token: str) -> Unsubscription:
    """Return what a token would unsubscribe; NotFound for a forged, damaged or stale one."""
    try:
        user_id, scope = _serializer().loads(token)
        if not isinstance(user_id, int) or scope not in UNSUBSCRIBE_SCOPES:
            raise BadSignature("unexpected payload")
    except (BadSignature, TypeError, ValueError):
        raise NotFound("This unsubscribe link is not valid.") from None
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("This unsubscribe link is not valid.")
    preferences = preferences_of(user)
    already = (not preferences.reminders_enabled if scope == DAILY_REMINDER
               else preferences.weekly_summary == "off")
    return Unsubscription(user, scope, already)


def unsubscribe(token: str, now: datetime) -> Unsubscription:
    """Turn off the kind of e-mail a token names; doing it twice changes nothing."""
    found = read_unsubscribe_token(token)
    if not found.already:
        row = _preference_row(found.user.id)
        if found.scope == DAILY_REMINDER:
            row.reminders_enabled = False
        else:  # a clinician's digest lives in the same weekly setting
            row.weekly_summary = "off"
        row.updated_at = now
        db.session.flush()
    return Unsubscription(found.user, found.scope, True)
