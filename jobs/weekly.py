"""The weekly e-mails: each patient's summary and each clinician's caseload digest.

Each job asks services.scheduled_mail who is owed what at "now", records
it in the delivery ledger and sends what it can claim (jobs.mail_run). Run
it as often as you like: a (recipient, week) that has a ledger row is never
owed again. The composers read through services and render with jobs.emails.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from models import utcnow
from services.alert_inbox import open_alert_counts
from services.clinician_digest import CaseloadPatient, build_clinician_digest
from services.days import local_today
from services.delivery import Letter, Skip
from services.history import checkin_histories
from services.ledger import CLINICIAN_DIGEST, WEEKLY_SUMMARY, Claimed
from services.mail import public_link
from services.preferences import preferences_by_user, unsubscribe_link
from services.scheduled_mail import (
    active_clinicians,
    caseloads,
    digest_detail,
    owed_clinician_digests,
    owed_weekly_summaries,
    reachable_patients,
)
from services.summaries import week_start_of_period
from services.weekly_summary import summarise_weeks

from .emails import (
    CASELOAD_PATH,
    PREFERENCES_PATH,
    Links,
    render_clinician_digest,
    render_weekly_notice,
    render_weekly_summary,
    summary_path,
)
from .mail_run import owe_and_send
from .report import JobReport

# --- patients ------------------------------------------------------------------------------------

def weekly_summaries(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Send each opted-in patient their summary of the week just ended, once.

    week ("2026-W47") picks the week instead of the latest one whose send
    moment has passed; a week is still sent only once its moment has passed.
    """
    now = now or utcnow()
    return owe_and_send("weekly-summaries", WEEKLY_SUMMARY, owed_weekly_summaries(now, week),
                        compose_weekly_summaries, now)


def compose_weekly_summaries(batch: list[Claimed]) -> dict[int, Letter | Skip]:
    """Write each claimed patient's e-mail from their records as they are now."""
    now = utcnow()
    users = reachable_patients(d.recipient_id for d in batch)
    preferences = preferences_by_user(users)
    summaries = summarise_weeks({
        d.id: (users[d.recipient_id], week_start_of_period(d.period)) for d in batch
        if d.recipient_id in users and preferences[d.recipient_id].weekly_summary == "detailed"}, now)
    letters: dict[int, Letter | Skip] = {}
    for delivery in batch:
        user = users.get(delivery.recipient_id)
        if user is None or user.patient_profile is None:
            letters[delivery.id] = Skip("recipient is no longer an active patient")
            continue
        mode = preferences[user.id].weekly_summary
        if mode == "off":
            letters[delivery.id] = Skip("weekly summary turned off")
            continue
        week_start = week_start_of_period(delivery.period)
        links = Links(public_link(summary_path(delivery.period)), public_link(PREFERENCES_PATH),
                      unsubscribe_link(user.id, WEEKLY_SUMMARY))
        if mode == "notice":
            rendered = render_weekly_notice(delivery.period, week_start, week_start + timedelta(days=6),
                                            name=user.display_name, links=links)
        else:
            rendered = render_weekly_summary(summaries[delivery.id], name=user.display_name, links=links)
        letters[delivery.id] = Letter(user.email, rendered.subject, rendered.text, rendered.html, links.unsubscribe)
    return letters


# --- clinicians ----------------------------------------------------------------------------------

def clinician_digests(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Send each clinician with a caseload the digest of the week just ended, once.

    A clinician's week follows the zone most of their patients live in (staff
    have no zone of their own yet).
    """
    now = now or utcnow()
    return owe_and_send("clinician-digests", CLINICIAN_DIGEST, owed_clinician_digests(now, week),
                        compose_clinician_digests, now)


def compose_clinician_digests(batch: list[Claimed]) -> dict[int, Letter | Skip]:
    """Write each claimed clinician's digest: counts, and names only where the organization allows."""
    clinicians = active_clinicians(d.recipient_id for d in batch)
    preferences = preferences_by_user(clinicians)
    caseload_of = caseloads(list(clinicians))
    patient_ids = sorted({p.user_id for profiles in caseload_of.values() for p, _user in profiles})
    earliest = min(week_start_of_period(d.period) for d in batch)
    histories = checkin_histories(patient_ids, since=earliest - timedelta(days=14))
    alerts = open_alert_counts(patient_ids)  # the figures the caseload shows
    detail = digest_detail({c.organization_id for c in clinicians.values()})
    letters: dict[int, Letter | Skip] = {}
    for delivery in batch:
        clinician = clinicians.get(delivery.recipient_id)
        if clinician is None:
            letters[delivery.id] = Skip("recipient is no longer an active clinician")
            continue
        if preferences[clinician.id].weekly_summary == "off":
            letters[delivery.id] = Skip("digest turned off")
            continue
        caseload = [
            CaseloadPatient(
                profile.user_id, user.display_name,
                histories[profile.user_id].records if profile.user_id in histories else [],
                local_today(profile.enrolled_at, profile.timezone),
                alerts[profile.user_id]["open"], alerts[profile.user_id]["urgent"],
            )
            for profile, user in caseload_of.get(clinician.id, [])
        ]
        digest = build_clinician_digest(week_start_of_period(delivery.period), caseload,
                                        detail=detail.get(clinician.organization_id, False))
        unsubscribe = unsubscribe_link(clinician.id, CLINICIAN_DIGEST)
        links = Links(public_link(CASELOAD_PATH), unsubscribe, unsubscribe)
        rendered = render_clinician_digest(digest, name=clinician.display_name, links=links)
        letters[delivery.id] = Letter(clinician.email, rendered.subject, rendered.text, rendered.html, unsubscribe)
    return letters
