"""The weekly e-mails: each patient's summary and each clinician's caseload digest.

Each job records what is owed at "now" in the delivery ledger, then sends
what it can claim (services.delivery). Run it as often as you like: a
(recipient, week) that has a ledger row is never owed again.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from models import (
    Alert, AlertSeverity, AlertStatus, CareTeamMember, NotificationPreference, Organization,
    PatientProfile, Role, User, db, utcnow,
)
from services.days import local_today
from services.history import checkin_histories
from services.delivery import (
    CLINICIAN_DIGEST, WEEKLY_SUMMARY, Letter, Skip, ledger_periods, preferences_by_user, preferences_from,
    record_owed, send_owed, unsubscribe_link,
)
from services.mail import public_link
from services.summaries import (
    CaseloadPatient, build_clinician_digest, iso_week, latest_owed_week,
    most_common_zone, week_start_of_period, weekly_send_moment,
)

from services.weekly_summary import summarise_weeks

from .emails import Links, render_clinician_digest, render_weekly_notice, render_weekly_summary
from .report import JobReport

PREFERENCES_PATH = "/settings/notifications"
CASELOAD_PATH = "/caseload"


def summary_path(period: str) -> str:
    return f"/summary?week={period}"


# --- patients ------------------------------------------------------------------------------------

def weekly_summaries(now: datetime | None = None, week: str | None = None) -> JobReport:
    """Send each opted-in patient their summary of the week just ended, once.

    week ("2026-W47") picks the week instead of the latest one whose send
    moment has passed; a week is still sent only once its moment has passed.
    """
    now = now or utcnow()
    owed = owed_weekly_summaries(now, week)
    db.session.commit()  # end the read: the ledger's writes open their own transactions
    record_owed(WEEKLY_SUMMARY, owed, now)
    db.session.commit()
    return JobReport("weekly-summaries", len(owed), send_owed(WEEKLY_SUMMARY, compose_weekly_summaries))


def owed_weekly_summaries(now: datetime, week: str | None = None) -> list[tuple[int, str]]:
    """Return the (patient, period) pairs owed a summary at now that have no ledger row yet."""
    chosen = week_start_of_period(week) if week else None
    rows = db.session.execute(
        select(User.id, PatientProfile.timezone, PatientProfile.enrolled_at, NotificationPreference)
        .join(PatientProfile, PatientProfile.user_id == User.id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(*_reachable_patients())
        .order_by(User.id)  # the ledger in patient order, whatever plan the database picks
    ).all()
    candidates = []
    for user_id, zone, enrolled_at, preference in rows:
        if preferences_from(preference).weekly_summary == "off":
            continue
        week_start = chosen or latest_owed_week(now, zone)
        if weekly_send_moment(week_start, zone) > now:
            continue  # the week is not over where the patient lives
        if local_today(enrolled_at, zone) > week_start + timedelta(days=6):
            continue  # enrolled after the week
        candidates.append((user_id, iso_week(week_start)))
    existing = ledger_periods(WEEKLY_SUMMARY, {period for _user, period in candidates})
    return [pair for pair in candidates if pair not in existing]


def compose_weekly_summaries(batch) -> dict:
    """Write each claimed patient's e-mail from their records as they are now."""
    now = utcnow()
    users = _users([d.recipient_id for d in batch])
    preferences = preferences_by_user(users)
    summaries = summarise_weeks({
        d.id: (users[d.recipient_id], week_start_of_period(d.period)) for d in batch
        if d.recipient_id in users and preferences[d.recipient_id].weekly_summary == "detailed"}, now)
    letters = {}
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
    owed = owed_clinician_digests(now, week)
    db.session.commit()  # end the read: the ledger's writes open their own transactions
    record_owed(CLINICIAN_DIGEST, owed, now)
    db.session.commit()
    return JobReport("clinician-digests", len(owed), send_owed(CLINICIAN_DIGEST, compose_clinician_digests))


def clinician_zone(patient_zones: list[str]) -> str:
    """Return the zone a clinician's digest follows: where most of their caseload lives."""
    return most_common_zone(patient_zones)


def owed_clinician_digests(now: datetime, week: str | None = None) -> list[tuple[int, str]]:
    """Return the (clinician, period) pairs owed a digest at now that have no ledger row yet."""
    chosen = week_start_of_period(week) if week else None
    patient = User.__table__.alias("patient")
    rows = db.session.execute(
        select(User.id, PatientProfile.timezone, NotificationPreference)
        .join(CareTeamMember, CareTeamMember.clinician_id == User.id)
        .join(PatientProfile, PatientProfile.user_id == CareTeamMember.patient_id)
        .join(patient, patient.c.id == PatientProfile.user_id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(User.role == Role.clinician, User.is_active.is_(True), patient.c.is_active.is_(True))
    ).all()
    zones: dict[int, list[str]] = defaultdict(list)
    turned_off = set()
    for clinician_id, zone, preference in rows:
        zones[clinician_id].append(zone)
        if preferences_from(preference).weekly_summary == "off":
            turned_off.add(clinician_id)
    candidates = []
    for clinician_id, patient_zones in zones.items():
        if clinician_id in turned_off:
            continue
        zone = clinician_zone(patient_zones)
        week_start = chosen or latest_owed_week(now, zone)
        if weekly_send_moment(week_start, zone) <= now:
            candidates.append((clinician_id, iso_week(week_start)))
    existing = ledger_periods(CLINICIAN_DIGEST, {period for _user, period in candidates})
    return [pair for pair in candidates if pair not in existing]


def compose_clinician_digests(batch) -> dict:
    """Write each claimed clinician's digest: counts, and names only where the organization allows."""
    clinicians = _staff([d.recipient_id for d in batch])
    preferences = preferences_by_user(clinicians)
    caseloads = _caseloads(list(clinicians))
    patient_ids = sorted({p.user_id for profiles in caseloads.values() for p, _user in profiles})
    earliest = min(week_start_of_period(d.period) for d in batch)
    histories = checkin_histories(patient_ids, since=earliest - timedelta(days=14))
    alerts = _alert_counts(patient_ids)
    detail = _digest_detail({c.organization_id for c in clinicians.values()})
    letters = {}
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
                *alerts.get(profile.user_id, (0, 0)),
            )
            for profile, user in caseloads.get(clinician.id, [])
        ]
        digest = build_clinician_digest(week_start_of_period(delivery.period), caseload,
                                        detail=detail.get(clinician.organization_id, False))
        unsubscribe = unsubscribe_link(clinician.id, CLINICIAN_DIGEST)
        links = Links(public_link(CASELOAD_PATH), unsubscribe, unsubscribe)
        rendered = render_clinician_digest(digest, name=clinician.display_name, links=links)
        letters[delivery.id] = Letter(clinician.email, rendered.subject, rendered.text, rendered.html, unsubscribe)
    return letters


# --- loaders -------------------------------------------------------------------------------------

def _reachable_patients() -> list:
    # Registered (an invited patient who never signed up has not asked for mail) and active.
    return [User.role == Role.patient, User.is_active.is_(True), User.password_hash.is_not(None)]


def _users(ids: list[int]) -> dict[int, User]:
    return {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_(ids), *_reachable_patients())
        .options(selectinload(User.patient_profile)))}


def _staff(ids: list[int]) -> dict[int, User]:
    return {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_(ids), User.role == Role.clinician, User.is_active.is_(True)))}


def _caseloads(clinician_ids: list[int]) -> dict[int, list[tuple[PatientProfile, User]]]:
    caseloads: dict[int, list] = defaultdict(list)
    for clinician_id, profile, user in db.session.execute(
        select(CareTeamMember.clinician_id, PatientProfile, User)
        .join(PatientProfile, PatientProfile.user_id == CareTeamMember.patient_id)
        .join(User, User.id == PatientProfile.user_id)
        .where(CareTeamMember.clinician_id.in_(clinician_ids), User.is_active.is_(True))
        .order_by(CareTeamMember.clinician_id, User.id)
    ).tuples():
        caseloads[clinician_id].append((profile, user))
    return caseloads


def _alert_counts(patient_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Return {patient: (alerts still to work, of which urgent)}: open or acknowledged."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    if not patient_ids:
        return {}
    for patient_id, severity, number in db.session.execute(
        select(Alert.patient_id, Alert.severity, func.count())
        .where(Alert.patient_id.in_(patient_ids), Alert.status.in_((AlertStatus.open, AlertStatus.acknowledged)))
        .group_by(Alert.patient_id, Alert.severity)
    ):
        counts[patient_id][0] += number
        if severity is AlertSeverity.urgent:
            counts[patient_id][1] += number
    return {patient_id: tuple(pair) for patient_id, pair in counts.items()}


def _digest_detail(organization_ids: set[int]) -> dict[int, bool]:
    return dict(db.session.execute(
        select(Organization.id, Organization.digest_detail).where(Organization.id.in_(organization_ids))
    ).tuples().all())

