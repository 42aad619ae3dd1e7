"""The demo clinic behind `flask --app api seed-demo`: staff, patients and their check-ins.

Every person and every day here is invented. Each patient follows one of four
archetypes, so that the caseload, the dashboards and the alerts have
something to show:

* improving: craving falls and mood and sleep rise over the period; a few
  early use days, then a long unbroken abstinence streak to date;
* relapsing: a stable stretch, then a return to use in the last two to three
  weeks with craving of 8 or more on consecutive days and short sleep;
* quiet: checked in regularly, then stopped 5 to 10 days ago;
* steady: no trend to speak of.

Everyone skips some days. The history is deterministic: each patient draws
from a random generator seeded with their number only, so a given ``now``
always gives the same clinic, and the first patients are the same however
many are seeded.
"""
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select

from models import (
    AssessmentAssignment,
    AssessmentResponse,
    AttendanceRecord,
    AttendanceStatus,
    CareTeamMember,
    Checkin,
    CheckinRevision,
    LevelOfCare,
    LevelOfCareChange,
    Organization,
    PatientProfile,
    Program,
    Role,
    SessionKind,
    User,
    WeeklyGoal,
    db,
)

from .access import own_profile
from .accounts import get_or_create_organization
from .alerts import daily_absence_pass
from .checkin_alerts import CheckinRules
from .days import local_today
from .demo_patients import PatientPlan, PlannedCheckin, checkin_history, clamp, local_instant, plan_patient
from .demo_tables import DONE_CHANCE, GOAL_TEXTS, GROUP_DAYS, MISS_CHANCE, SCORE_PATHS, SESSION_HOURS
from .passwords import hash_password, require_new_password
from .scoring import score

DEMO_ORGANIZATION = "Waypoint Demo Clinic"
# Meets the rules of every password set in earnest (services.passwords).
DEMO_PASSWORD = "harbor-lantern-demo"
EVENING_IOP = "Evening IOP"
DAY_PROGRAM = "Day Program (PHP)"

ADMIN_EMAIL = "admin@demo.waypoint"
CLINICIANS = (
    ("dr.rivera@demo.waypoint", "Dr. Elena Rivera"),
    ("j.okafor@demo.waypoint", "Jordan Okafor, LCSW"),
)

# Rows per bulk INSERT round: large enough that 500 x 365 days takes a few
# hundred statements, small enough to keep memory flat.
_BATCH_ROWS = 5000

# The tables under the models (their __table__ is typed as any FROM clause).
_CHECKINS = cast(Table, Checkin.__table__)
_REVISIONS = cast(Table, CheckinRevision.__table__)

Progress = Callable[[Iterable[Any], str], Iterator[Any]]


@dataclass(frozen=True)
class DemoSummary:
    """What seeding made, and the accounts worth logging in as."""

    organization_id: int
    logins: list[tuple[str, str]]  # (role, e-mail)
    patient_count: int
    checkin_count: int


def seed_demo_clinic(
    now: datetime, patients: int = 12, days: int = 90, progress: Progress | None = None
) -> DemoSummary | None:
    """Create the demo clinic with `days` of check-ins per patient; flush, never commit.

    Returns None, having written nothing, when the demo organization exists.
    progress(iterable, label), when given, wraps the loop over patients (the
    CLI's progress bar).
    """
    if patients < 0 or days < 0:
        raise ValueError("patients and days must not be negative")
    exists = db.session.scalar(
        select(Organization.id).where(Organization.name == DEMO_ORGANIZATION)
    )
    if exists is not None:
        return None

    # argon2 is deliberately slow: one hash serves every demo account.
    password_hash = hash_password(DEMO_PASSWORD)
    opened = now - timedelta(days=days + 60)
    organization = get_or_create_organization(DEMO_ORGANIZATION)
    organization.created_at = opened
    programs = {
        LevelOfCare.iop: Program(organization_id=organization.id, name=EVENING_IOP, created_at=opened),
        LevelOfCare.php: Program(organization_id=organization.id, name=DAY_PROGRAM, created_at=opened),
    }
    admin = User(
        organization_id=organization.id, email=ADMIN_EMAIL, display_name="Morgan Ellis",
        role=Role.admin, password_hash=password_hash, created_at=opened,
    )
    clinicians = [
        User(organization_id=organization.id, email=email, display_name=name,
             role=Role.clinician, password_hash=password_hash, created_at=opened)
        for email, name in CLINICIANS
    ]
    plans = [plan_patient(number, now, days) for number in range(1, patients + 1)]
    for email in [ADMIN_EMAIL, *(email for email, _name in CLINICIANS), *(plan.email for plan in plans)]:
        require_new_password(DEMO_PASSWORD, email)
    patient_users = [
        User(organization_id=organization.id, email=plan.email, display_name=plan.display_name,
             role=Role.patient, password_hash=password_hash, created_at=plan.enrolled_at)
        for plan in plans
    ]
    db.session.add_all([*programs.values(), admin, *clinicians, *patient_users])
    db.session.flush()

    program_ids = {level: program.id for level, program in programs.items()}
    db.session.add_all([
        PatientProfile(
            user_id=user.id, timezone=plan.timezone, recovery_start_date=plan.recovery_start,
            level_of_care=plan.level_of_care, program_id=program_ids.get(plan.level_of_care),
            enrolled_at=plan.enrolled_at, enrolled_by_id=clinicians[plan.clinicians[0]].id,
        )
        for plan, user in zip(plans, patient_users, strict=True)
    ])
    # Care-team rows have no relationship to the profile for the unit of work
    # to order by: the profiles must be in the database first.
    db.session.flush()
    records: list[CareTeamMember | LevelOfCareChange] = []
    for plan, user in zip(plans, patient_users, strict=True):
        primary = clinicians[plan.clinicians[0]]
        for index in plan.clinicians:
            records.append(CareTeamMember(
                patient_id=user.id, clinician_id=clinicians[index].id,
                added_at=plan.enrolled_at, added_by_id=admin.id,
            ))
        for change in plan.level_changes:
            records.append(LevelOfCareChange(
                patient_id=user.id, level_of_care=change.level, effective_date=change.effective_date,
                note=change.note, changed_by_id=primary.id, changed_at=change.changed_at,
            ))
    db.session.add_all(records)
    db.session.flush()

    checkin_count = 0
    pending: list[tuple[int, PlannedCheckin]] = []
    pairs = list(zip(plans, patient_users, strict=True))
    for plan, user in (progress(pairs, "Seeding demo check-ins") if progress else pairs):
        pending.extend((user.id, day) for day in checkin_history(plan, now, days))
        if len(pending) >= _BATCH_ROWS:
            checkin_count += _insert_checkins(pending)
            pending = []
    checkin_count += _insert_checkins(pending)
    for plan, user in pairs:
        _seed_care_records(plan, user.id, clinicians[plan.clinicians[0]].id, now)
    db.session.flush()
    # The alert inbox starts where the rules would have left it: last week's
    # check-ins judged as each was written, then the scheduler's daily pass.
    for user in patient_users:
        _judge_last_week(user, organization, now)
    daily_absence_pass(now, organization.id)

    logins = [("admin", ADMIN_EMAIL), *(("clinician", email) for email, _name in CLINICIANS)]
    logins += [("patient", plan.email) for plan in plans[:3]]
    return DemoSummary(
        organization_id=organization.id, logins=logins,
        patient_count=len(plans), checkin_count=checkin_count,
    )


def _judge_last_week(user: User, organization: Organization, now: datetime) -> None:
    """Run the check-in alert rules over a patient's last 7 days, oldest first."""

    since = local_today(now, own_profile(user).timezone) - timedelta(days=6)
    recent = db.session.scalars(select(Checkin).where(
        Checkin.patient_id == user.id, Checkin.day >= since).order_by(Checkin.day)).all()
    if recent:
        rules = CheckinRules(user, organization, now, [checkin.day for checkin in recent])
        for checkin in recent:
            rules.judge(checkin, None)




def _insert_checkins(pending: list[tuple[int, PlannedCheckin]]) -> int:
    """Insert check-ins and their first revisions in bulk; return how many.

    pending holds every check-in of the patients in it. The ids are read back
    by (patient, day) rather than with RETURNING, which SQLAlchemy can only
    keep in parameter order on SQLite by inserting one row at a time. The
    inserts go to the tables, not the ORM, whose bulk path splits the rows
    into small batches wherever an optional field is None.
    """
    if not pending:
        return 0
    db.session.execute(insert(_CHECKINS), [
        {"patient_id": patient_id, "day": entry.day, "late": entry.late, "version": 1,
         "created_at": entry.created_at, "updated_at": entry.created_at, **entry.content}
        for patient_id, entry in pending
    ])
    ids = {
        (patient_id, day): checkin_id
        for checkin_id, patient_id, day in db.session.execute(
            select(Checkin.id, Checkin.patient_id, Checkin.day).where(
                Checkin.patient_id.in_(sorted({patient_id for patient_id, _entry in pending}))
            )
        )
    }
    db.session.execute(insert(_REVISIONS), [
        {"checkin_id": ids[patient_id, entry.day], "version": 1, "content": entry.content,
         "recorded_at": entry.created_at, "recorded_by_id": patient_id}
        for patient_id, entry in pending
    ])
    return len(pending)




def _seed_care_records(plan: PatientPlan, patient_id: int, clinician_id: int, now: datetime) -> None:
    """Add the patient's questionnaires (every 14 days), weekly goals and group sessions."""
    rng = random.Random(plan.seed * 7919 + 17)
    zone = ZoneInfo(plan.timezone)
    today = local_today(now, plan.timezone)
    enrolled = local_today(plan.enrolled_at, plan.timezone)
    # The quiet stopped everything when they stopped checking in.
    last_active = today - timedelta(days=plan.turning_point) if plan.archetype == "quiet" else today
    relapse_from = today - timedelta(days=plan.turning_point)
    records: list[AssessmentResponse | WeeklyGoal | AttendanceRecord] = []

    start, end = SCORE_PATHS[plan.archetype]
    span = max((today - enrolled).days, 1)
    for instrument in ("phq9", "gad7"):
        assignment = AssessmentAssignment(
            patient_id=patient_id, instrument=instrument, cadence_days=14, window_days=3,
            starts_on=enrolled, assigned_by_id=clinician_id, assigned_at=plan.enrolled_at,
        )
        db.session.add(assignment)
        db.session.flush()
        occurrence = enrolled
        while occurrence <= today - timedelta(days=1):
            answered_on = min(occurrence + timedelta(days=rng.randint(0, 2)), today)
            if answered_on > last_active:
                break
            progress_share = (occurrence - enrolled).days / span
            total = round(start + (end - start) * progress_share + rng.uniform(-1.5, 1.5))
            if plan.archetype == "relapsing" and occurrence < relapse_from:
                total = min(total, start + 1)
            items, ceiling = (9, 27) if instrument == "phq9" else (7, 21)
            if instrument == "gad7":
                total = round(total * 0.75)
            answers = _answers_adding_to(clamp(total, 0, ceiling - 3), items, rng)
            scored = score(instrument, answers)
            records.append(AssessmentResponse(
                patient_id=patient_id, assignment_id=assignment.id, occurrence_on=occurrence,
                instrument=instrument, answers=answers, total=scored.total,
                band=scored.band.code if scored.band else None,
                subscales={code: sub.to_dict() for code, sub in scored.subscales.items()},
                item9=scored.item9, crisis=scored.crisis, local_day=answered_on,
                submitted_at=min(local_instant(answered_on, plan.checkin_minute, zone), now),
            ))
            occurrence += timedelta(days=14)

    this_monday = today - timedelta(days=today.weekday())
    for weeks_back in range(4, -1, -1):
        monday = this_monday - timedelta(weeks=weeks_back)
        if monday < enrolled - timedelta(days=enrolled.weekday()) or monday > last_active:
            continue
        for text in rng.sample(GOAL_TEXTS, rng.randint(2, 3)):
            done = weeks_back > 0 and rng.random() < DONE_CHANCE[plan.archetype]
            done_on = monday + timedelta(days=rng.randint(1, 6))
            records.append(WeeklyGoal(
                patient_id=patient_id, week_start=monday, text=text,
                created_at=min(local_instant(monday, plan.checkin_minute, zone), now),
                done_at=min(local_instant(done_on, plan.checkin_minute, zone), now) if done else None,
            ))

    day = max(enrolled, today - timedelta(weeks=8))
    while day < today:
        level = plan.level_on(day)
        if day.weekday() in GROUP_DAYS[level]:
            miss = MISS_CHANCE[plan.archetype]
            if plan.archetype == "relapsing" and day >= relapse_from:
                miss = 0.55
            if day > last_active:
                miss = 1.0
            status = AttendanceStatus.missed if rng.random() < miss else (
                AttendanceStatus.excused if rng.random() < 0.04 else AttendanceStatus.attended)
            records.append(AttendanceRecord(
                patient_id=patient_id, session_date=day, kind=SessionKind.group, status=status,
                hours=SESSION_HOURS[level], recorded_by_id=clinician_id,
                recorded_at=min(local_instant(day, 21 * 60, zone), now),
            ))
        day += timedelta(days=1)
    db.session.add_all(records)


def _answers_adding_to(total: int, items: int, rng: random.Random) -> dict[str, int]:
    """Spread total over the items (0-3 each), never touching PHQ-9 item 9."""
    answers = {str(item): 0 for item in range(1, items + 1)}
    # Item 9 of the PHQ-9 is the self-harm item: the demo does not answer it.
    spread = [str(item) for item in range(1, min(items, 8) + 1)]
    while total > 0:
        item = rng.choice([i for i in spread if answers[i] < 3])
        answers[item] += 1
        total -= 1
    return answers
