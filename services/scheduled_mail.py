"""The scheduled e-mails' queries: who is owed a summary, a digest or a reminder, and what composing one reads.

The jobs (jobs.weekly, jobs.reminders) orchestrate: they ask here who is
owed what at "now", record it in the ledger, and let the delivery worker
send it; their composers read through the loaders below. Nothing here
writes.

Who is reachable: a registered (an invited patient who never signed up
has not asked for mail), active patient; a clinician's digest goes to an
active clinician with at least one active patient on their caseload.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload

from models import (
    CareTeamMember,
    Checkin,
    NotificationPreference,
    Organization,
    PatientProfile,
    Role,
    User,
    db,
)

from .days import local_today
from .ledger import CLINICIAN_DIGEST, DAILY_REMINDER, WEEKLY_SUMMARY, ledger_periods
from .preferences import preferences_from
from .summaries import (
    iso_week,
    latest_owed_week,
    most_common_zone,
    reminder_day,
    week_start_of_period,
    weekly_send_moment,
)


def reachable_patient() -> list[ColumnElement[bool]]:
    """Return the conditions on User that make a patient someone the scheduled e-mails may reach."""
    return [User.role == Role.patient, User.is_active.is_(True), User.password_hash.is_not(None)]


# --- who is owed what ----------------------------------------------------------------------------

def owed_weekly_summaries(now: datetime, week: str | None = None) -> list[tuple[int, str]]:
    """Return the (patient, period) pairs owed a summary at now that have no ledger row yet.

    week ("2026-W47") picks the week instead of the latest one whose send
    moment has passed; a week is still owed only once its moment has passed.
    """
    chosen = week_start_of_period(week) if week else None
    rows = db.session.execute(
        select(User.id, PatientProfile.timezone, PatientProfile.enrolled_at, NotificationPreference)
        .join(PatientProfile, PatientProfile.user_id == User.id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(*reachable_patient())
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


def clinician_zone(patient_zones: list[str]) -> str:
    """Return the zone a clinician's digest follows: where most of their caseload lives (staff have none)."""
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


def owed_daily_reminders(now: datetime) -> list[tuple[int, str]]:
    """Return the (patient, local date) pairs owed a reminder at now that have no ledger row yet."""
    rows = db.session.execute(
        select(User.id, PatientProfile.timezone, NotificationPreference)
        .join(PatientProfile, PatientProfile.user_id == User.id)
        .outerjoin(NotificationPreference, NotificationPreference.user_id == User.id)
        .where(*reachable_patient())
    ).all()
    candidates = {}
    for user_id, zone, preference in rows:
        preferences = preferences_from(preference)
        day = reminder_day(now, zone, preferences.reminder_time)
        if day is not None and preferences.reminders_on(day):
            candidates[user_id] = day
    checked_in = checked_in_days(candidates)
    owed = [(user_id, day.isoformat()) for user_id, day in candidates.items() if (user_id, day) not in checked_in]
    existing = ledger_periods(DAILY_REMINDER, {period for _user, period in owed})
    return [pair for pair in owed if pair not in existing]


# --- what composing reads ------------------------------------------------------------------------

def reachable_patients(ids: Iterable[int]) -> dict[int, User]:
    """Return the reachable patients among ids, by id, with their profiles loaded."""
    return {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_(list(ids)), *reachable_patient())
        .options(selectinload(User.patient_profile)))}


def active_clinicians(ids: Iterable[int]) -> dict[int, User]:
    """Return the active clinicians among ids, by id."""
    return {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_(list(ids)), User.role == Role.clinician, User.is_active.is_(True)))}


def caseloads(clinician_ids: list[int]) -> dict[int, list[tuple[PatientProfile, User]]]:
    """Return each clinician's active patients (profile and account), in patient order."""
    found: dict[int, list[tuple[PatientProfile, User]]] = defaultdict(list)
    for clinician_id, profile, user in db.session.execute(
        select(CareTeamMember.clinician_id, PatientProfile, User)
        .join(PatientProfile, PatientProfile.user_id == CareTeamMember.patient_id)
        .join(User, User.id == PatientProfile.user_id)
        .where(CareTeamMember.clinician_id.in_(clinician_ids), User.is_active.is_(True))
        .order_by(CareTeamMember.clinician_id, User.id)
    ).tuples():
        found[clinician_id].append((profile, user))
    return found


def digest_detail(organization_ids: Iterable[int]) -> dict[int, bool]:
    """Return whether each organization lets its digests name patients."""
    return dict(db.session.execute(
        select(Organization.id, Organization.digest_detail).where(Organization.id.in_(list(organization_ids)))
    ).tuples().all())


def checked_in_days(days_by_patient: Mapping[int, date]) -> set[tuple[int, date]]:
    """Return which of the (patient, day) pairs have a check-in, in one statement."""
    if not days_by_patient:
        return set()
    days = set(days_by_patient.values())
    found = db.session.execute(
        select(Checkin.patient_id, Checkin.day).where(Checkin.day.in_(days))
    ).tuples()
    return {(patient_id, day) for patient_id, day in found if days_by_patient.get(patient_id) == day}
