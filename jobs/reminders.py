"""The daily check-in reminder: one a day at most, only before the patient checked in.

A patient is owed a reminder on a local day when their reminder time has
passed (within services.summaries.REMINDER_WINDOW), reminders are on and
not paused, and the day has no check-in. The ledger period is the local
date, so a day gets one reminder however often the job runs. At sending
time the job looks again: a patient who checked in (or paused, or whose day
ended) in between gets nothing, and the ledger says "skipped".
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Checkin, NotificationPreference, PatientProfile, User, db, utcnow
from services.days import local_today
from services.delivery import (
    DAILY_REMINDER, Letter, Skip, ledger_periods, preferences_by_user, preferences_from, record_owed,
    send_owed, unsubscribe_link,
)
from services.mail import public_link
from services.summaries import reminder_day

from .emails import Links, render_daily_reminder
from .report import JobReport
from .weekly import PREFERENCES_PATH, _reachable_patients

CHECKIN_PATH = "/checkin"


def daily_reminders(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Remind every patient whose reminder time has passed and who has not checked in today."""
    if week is not None:
        raise ValueError("daily reminders are owed per day; --week does not apply")
    now = now or utcnow()
    owed = owed_daily_reminders(now)
    db.session.commit()  # end the read: the ledger's writes open their own transactions
    record_owed(DAILY_REMINDER, owed, now)
    db.session.commit()
    return JobReport("daily-reminders", len(owed), send_owed(DAILY_REMINDER, compose_daily_reminders))


def owed_daily_reminders(now: datetime) -> list[tuple[int, str]]:
    """Return the (patient, local date) pairs owed a reminder at now that have no ledger row yet."""
    rows = db.session.execute(
        select(User.id, PatientProfile.timezone, NotificationPreference)
        .join(PatientProfile, PatientProfile.user_id == User.id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(*_reachable_patients())
    ).all()
    candidates = {}
    for user_id, zone, preference in rows:
        preferences = preferences_from(preference)
        day = reminder_day(now, zone, preferences.reminder_time)
        if day is not None and preferences.reminders_on(day):
            candidates[user_id] = day
    checked_in = _checked_in(candidates)
    owed = [(user_id, day.isoformat()) for user_id, day in candidates.items() if (user_id, day) not in checked_in]
    existing = ledger_periods(DAILY_REMINDER, {period for _user, period in owed})
    return [pair for pair in owed if pair not in existing]


def compose_daily_reminders(batch) -> dict:
    """Write each claimed reminder, unless it is no longer owed."""
    now = utcnow()
    users = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_([d.recipient_id for d in batch]), *_reachable_patients())
        .options(selectinload(User.patient_profile)))}
    preferences = preferences_by_user(users)
    days = {d.recipient_id: datetime.fromisoformat(d.period).date() for d in batch}
    checked_in = _checked_in({user_id: day for user_id, day in days.items() if user_id in users})
    letters = {}
    for delivery in batch:
        user = users.get(delivery.recipient_id)
        day = days[delivery.recipient_id]
        if user is None or user.patient_profile is None:
            letters[delivery.id] = Skip("recipient is no longer an active patient")
        elif (user.id, day) in checked_in:
            letters[delivery.id] = Skip("checked in before the reminder went out")
        elif local_today(now, user.patient_profile.timezone) != day:
            letters[delivery.id] = Skip("the day is over")
        elif not preferences[user.id].reminders_on(day):
            letters[delivery.id] = Skip("reminders paused or turned off")
        else:
            links = Links(public_link(CHECKIN_PATH), public_link(PREFERENCES_PATH),
                          unsubscribe_link(user.id, DAILY_REMINDER))
            rendered = render_daily_reminder(day, name=user.display_name, links=links)
            letters[delivery.id] = Letter(user.email, rendered.subject, rendered.text, rendered.html,
                                          links.unsubscribe)
    return letters


def _checked_in(days_by_patient: dict) -> set:
    """Return which of the (patient, day) pairs have a check-in, in one statement."""
    if not days_by_patient:
        return set()
    days = set(days_by_patient.values())
    found = db.session.execute(
        select(Checkin.patient_id, Checkin.day).where(Checkin.day.in_(days))
    ).tuples()
    return {(patient_id, day) for patient_id, day in found if days_by_patient.get(patient_id) == day}
