"""The daily check-in reminder: one a day at most, only before the patient checked in.

A patient is owed a reminder on a local day when their reminder time has
passed (within services.summaries.REMINDER_WINDOW), reminders are on and
not paused, and the day has no check-in. The ledger period is the local
date, so a day gets one reminder however often the job runs. At sending
time the job looks again: a patient who checked in (or paused, or whose day
ended) in between gets nothing, and the ledger says "skipped". Who is owed
one is services.scheduled_mail's question; the job records and sends.
"""
from __future__ import annotations

from datetime import datetime

from models import utcnow
from services.days import local_today
from services.delivery import Letter, Skip
from services.ledger import DAILY_REMINDER, Claimed
from services.mail import public_link
from services.preferences import preferences_by_user, unsubscribe_link
from services.scheduled_mail import checked_in_days, owed_daily_reminders, reachable_patients

from .emails import CHECKIN_PATH, PREFERENCES_PATH, Links, render_daily_reminder
from .mail_run import owe_and_send
from .report import JobReport


def daily_reminders(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Remind every patient whose reminder time has passed and who has not checked in today."""
    if week is not None:
        raise ValueError("daily reminders are owed per day; --week does not apply")
    now = now or utcnow()
    return owe_and_send("daily-reminders", DAILY_REMINDER, owed_daily_reminders(now), compose_daily_reminders, now)


def compose_daily_reminders(batch: list[Claimed]) -> dict[int, Letter | Skip]:
    """Write each claimed reminder, unless it is no longer owed."""
    now = utcnow()
    users = reachable_patients(d.recipient_id for d in batch)
    preferences = preferences_by_user(users)
    days = {d.recipient_id: datetime.fromisoformat(d.period).date() for d in batch}
    checked_in = checked_in_days({user_id: day for user_id, day in days.items() if user_id in users})
    letters: dict[int, Letter | Skip] = {}
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
