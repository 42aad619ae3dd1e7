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
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from models import (
    DEFAULT_COPING_SKILLS, TRIGGERS, AssessmentAssignment, AssessmentResponse, AttendanceRecord,
    AttendanceStatus, CareTeamMember, Checkin, CheckinRevision, LevelOfCare, LevelOfCareChange,
    Organization, PatientProfile, Program, Role, SessionKind, User, WeeklyGoal, db,
)

from .accounts import get_or_create_organization
from .checkins import normalise_content
from .days import local_today
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

Progress = Callable[[Iterable, str], Iterator]


@dataclass(frozen=True)
class DemoSummary:
    """What seeding made, and the accounts worth logging in as."""

    organization_id: int
    logins: list[tuple[str, str]]  # (role, e-mail)
    patient_count: int
    checkin_count: int


# The clinic's pattern repeats every twelve patients: patient1 improves,
# patient2 relapses, patient3 is steady, so the first logins the CLI prints
# show three different stories.
_ARCHETYPES = (
    "improving", "relapsing", "steady", "quiet", "improving", "steady",
    "relapsing", "improving", "steady", "quiet", "improving", "relapsing",
)
_STEPS_UP = 1  # position in the pattern: relapsing, stepped up to the day program
_STEPS_DOWN = 10  # improving, stepped down to outpatient
_DAY_PROGRAM_FROM_START = 5  # steady, in the day program since enrolment
_OUTPATIENT_FROM_START = 9  # quiet, standard outpatient since enrolment
_REPORTS_SELF_HARM = 1  # the relapsing patient who once reported self-harm thoughts

# Eleven zones against a pattern of twelve, so zones and archetypes mix.
_TIMEZONES = (
    "America/New_York", "America/Chicago", "America/Los_Angeles", "America/New_York",
    "America/Denver", "Europe/London", "America/New_York", "Asia/Kolkata",
    "America/Chicago", "America/Phoenix", "America/Los_Angeles",
)
_FIRST_NAMES = (
    "Maya", "Daniel", "Priya", "Marcus", "Hannah", "Luis", "Aisha", "Connor", "Sofia",
    "Tyrone", "Emily", "Rafael", "Grace", "Owen", "Nadia", "Caleb", "Leah", "Andre",
    "Chloe", "Mateo", "Rachel", "Kevin", "Imani", "Ryan", "Zoe", "Samuel", "Lucia",
    "Dylan", "Fatima", "Ethan",
)
_LAST_NAMES = (
    "Thompson", "Nguyen", "Patel", "Johnson", "Kowalski", "Garcia", "Bennett", "Hughes",
    "Morales", "Washington", "Sullivan", "Reyes", "Kim", "Fischer", "Brooks", "Alvarez",
    "Murphy", "Singh", "Carter", "Lopez", "Novak", "Foster", "Ramirez", "Coleman",
    "Walsh", "Ortiz", "Price", "Mendoza", "Harper", "Dixon",
)

_SKILL_CODES = tuple(code for code, _label in DEFAULT_COPING_SKILLS)
# How often IOP patients report each skill; group attendance comes from the
# program's schedule instead, plus the odd community meeting.
_SKILL_WEIGHTS = {
    "urge_surfing": 3.0, "trigger_planning": 2.0, "refusal_skills": 1.5,
    "distress_tolerance": 2.0, "mindfulness": 3.0, "reached_out": 3.0,
    "meeting_attended": 0.8, "exercise": 2.5, "healthy_routine": 2.5,
    "communication": 1.5, "journaling": 2.0,
}
_TRIGGER_WEIGHTS = {
    "stress": 4.0, "conflict": 2.0, "people_places": 2.0, "boredom": 2.5,
    "loneliness": 2.5, "pain": 1.0, "night_cravings": 2.0, "fatigue": 2.0,
    "celebration": 0.7, "money": 1.5, "other": 0.5,
}
_PRIMARY_SUBSTANCES = (
    ("alcohol", 4.0), ("opioids", 3.0), ("stimulants", 2.0), ("cannabis", 1.5),
    ("benzodiazepines", 1.0),
)
_SECONDARY_SUBSTANCES = ("alcohol", "cannabis", "nicotine", "benzodiazepines")
_CUSTOM_SKILLS = (
    "Walked the dog", "Played guitar", "Cooked a proper meal", "Prayer", "Cold shower",
    "Gardening", "Drew for an hour", "Called family",
)
_NOTES = {
    "use": ("Slipped tonight.", "Used after a bad day.", "Not proud of today.",
            "Will talk to my counselor about it."),
    "hard": ("Rough day at work.", "Cravings in the evening.", "Felt on edge.",
             "Didn't sleep much.", "Argument at home.", "Lonely tonight.", "Hard day, got through it."),
    "good": ("Good group today.", "Felt steady.", "Went for a long walk.",
             "Good talk with my sponsor.", "Slept well for once.", "Proud of this week.", "Calm day."),
    "plain": ("Busy day.", "Tired.", "Ok day.", "Nothing special.", "Long shift.", "Errands and rest."),
}
# Weekdays with group: Evening IOP meets Mon/Tue/Thu, the day program every
# weekday, outpatient once a week.
_GROUP_DAYS = {
    LevelOfCare.iop: frozenset({0, 1, 3}),
    LevelOfCare.php: frozenset({0, 1, 2, 3, 4}),
    LevelOfCare.outpatient: frozenset({2}),
}


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
    plans = [_plan(number, now, days) for number in range(1, patients + 1)]
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
        for plan, user in zip(plans, patient_users)
    ])
    # Care-team rows have no relationship to the profile for the unit of work
    # to order by: the profiles must be in the database first.
    db.session.flush()
    records = []
    for plan, user in zip(plans, patient_users):
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
    pending: list[tuple[int, _Day]] = []
    pairs = list(zip(plans, patient_users))
    for plan, user in (progress(pairs, "Seeding demo check-ins") if progress else pairs):
        pending.extend((user.id, day) for day in _history(plan, now, days))
        if len(pending) >= _BATCH_ROWS:
            checkin_count += _insert_checkins(pending)
            pending = []
    checkin_count += _insert_checkins(pending)
    for plan, user in pairs:
        _seed_care_records(plan, user.id, clinicians[plan.clinicians[0]].id, now)
    db.session.flush()
    # The alert inbox starts where the rules would have left it: last week's
    # check-ins judged as each was written, then the scheduler's daily pass.
    from .alerts import daily_absence_pass

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
    from .alerts import CheckinRules

    since = local_today(now, user.patient_profile.timezone) - timedelta(days=6)
    recent = db.session.scalars(select(Checkin).where(
        Checkin.patient_id == user.id, Checkin.day >= since).order_by(Checkin.day)).all()
    if recent:
        rules = CheckinRules(user, organization, now, [checkin.day for checkin in recent])
        for checkin in recent:
            rules.judge(checkin, None)


@dataclass(frozen=True)
class _LevelChange:
    level: LevelOfCare
    effective_date: date
    changed_at: datetime
    note: str


@dataclass(frozen=True)
class _Plan:
    """Who a demo patient is and how their story goes."""

    number: int
    email: str
    display_name: str
    timezone: str
    archetype: str
    clinicians: tuple[int, ...]  # indexes into CLINICIANS, the primary first
    enrolled_at: datetime
    recovery_start: date
    level_changes: tuple[_LevelChange, ...]  # oldest first; the first is the enrolment
    seed: int  # where the history's random stream starts
    checkin_minute: int  # the patient's usual time of day to check in, local
    primary_substance: str
    on_medication: bool
    answers_optional: bool  # fills in sleep quality and self-harm thoughts
    favourite_skills: tuple[str, ...]
    helpful_skill: str  # practising it lowers the next day's craving
    favourite_triggers: tuple[str, ...]
    turning_point: int  # days before today: relapse start, or the last check-in (quiet)

    @property
    def level_of_care(self) -> LevelOfCare:
        return self.level_changes[-1].level

    def level_on(self, day: date) -> LevelOfCare:
        level = self.level_changes[0].level
        for change in self.level_changes:
            if change.effective_date <= day:
                level = change.level
        return level


def _plan(number: int, now: datetime, days: int) -> _Plan:
    """Decide a patient's profile and story (deterministic in number, now and days)."""
    rng = random.Random(f"waypoint-demo-patient-{number}")
    position = (number - 1) % len(_ARCHETYPES)
    archetype = _ARCHETYPES[position]
    zone_name = _TIMEZONES[(number - 1) % len(_TIMEZONES)]
    zone = ZoneInfo(zone_name)
    today = local_today(now, zone_name)
    first_day = today - timedelta(days=max(days, 1))

    enrol_day = first_day - timedelta(days=rng.randint(0, 3))
    enrolled_at = _at(enrol_day, 10 * 60 + rng.randint(0, 360), zone)
    recovery_start = enrol_day - timedelta(days=rng.choice((0, 0, 3, 7, 14, 21, 30, 45)))

    if position == _DAY_PROGRAM_FROM_START:
        starting = LevelOfCare.php
    elif position == _OUTPATIENT_FROM_START:
        starting = LevelOfCare.outpatient
    else:
        starting = LevelOfCare.iop
    changes = [_LevelChange(starting, enrol_day, enrolled_at, "Enrolled")]
    turning_point = rng.randint(14, 20) if archetype == "relapsing" else rng.randint(5, 10)
    if position == _STEPS_UP:
        step = today - timedelta(days=max(1, turning_point - rng.randint(8, 11)))
        note = "Stepped up to the day program after a return to use."
        if step > enrol_day:
            changes.append(_LevelChange(LevelOfCare.php, step, _at(step, 14 * 60, zone), note))
    elif position == _STEPS_DOWN:
        step = today - timedelta(days=rng.randint(18, 28))
        note = "Stepped down to outpatient: stable, weekly goals met."
        if step > enrol_day:
            changes.append(_LevelChange(LevelOfCare.outpatient, step, _at(step, 14 * 60, zone), note))

    # Each clinician leads half the caseload; every third patient has both.
    primary = (number - 1) % 2
    team = (primary, 1 - primary) if number % 3 == 1 else (primary,)

    substance = _weighted_choice(rng, dict(_PRIMARY_SUBSTANCES))
    on_medication = rng.random() < {"opioids": 0.85, "alcohol": 0.35}.get(substance, 0.0)
    favourite_skills = tuple(rng.sample(_SKILL_CODES, 3))
    index = number - 1
    first_name = _FIRST_NAMES[index % len(_FIRST_NAMES)]
    # Distinct names for the first 900 patients: the surname moves on once per lap.
    last_name = _LAST_NAMES[(index + index // len(_FIRST_NAMES)) % len(_LAST_NAMES)]
    return _Plan(
        number=number, email=f"patient{number}@demo.waypoint",
        display_name=f"{first_name} {last_name}", timezone=zone_name, archetype=archetype,
        clinicians=team, enrolled_at=enrolled_at, recovery_start=recovery_start,
        level_changes=tuple(changes), seed=rng.getrandbits(64),
        checkin_minute=rng.choice((7 * 60 + 30, 8 * 60 + 15, 19 * 60, 20 * 60, 21 * 60, 21 * 60 + 45)),
        primary_substance=substance, on_medication=on_medication,
        answers_optional=rng.random() < 0.75, favourite_skills=favourite_skills,
        helpful_skill=favourite_skills[0],
        favourite_triggers=tuple(rng.sample(TRIGGERS[:-1], 2)),
        turning_point=turning_point,
    )


@dataclass(frozen=True)
class _Day:
    day: date
    content: dict
    created_at: datetime
    late: bool


@dataclass(frozen=True)
class _Outlook:
    """What a day is likely to look like before the dice are rolled."""

    craving: float
    mood: float
    sleep: float
    use_chance: float = 0.0
    skip_chance: float = 0.1
    skills: float = 2.0  # mean number of skills practised besides group
    struggling: bool = False


def _history(plan: _Plan, now: datetime, days: int) -> list[_Day]:
    """Return the patient's check-ins, oldest first, ending no later than their local today."""
    rng = random.Random(plan.seed)
    zone = ZoneInfo(plan.timezone)
    today = local_today(now, plan.timezone)
    local_now = now.astimezone(zone)
    minute_now = local_now.hour * 60 + local_now.minute
    # Today counts only once the patient's usual check-in time has passed.
    checked_in_today = (
        plan.archetype != "quiet" and minute_now >= plan.checkin_minute + 45 and rng.random() < 0.6
    )
    last_day = today if checked_in_today else today - timedelta(days=1)
    first_day = last_day - timedelta(days=days - 1)
    forced = _forced_days(plan, rng)
    if plan.archetype == "quiet":
        last_day = today - timedelta(days=plan.turning_point)
    # A late entry was written on a later day, but never after the last one
    # the patient was active on, and never today (so never after now).
    last_write = min(last_day, today - timedelta(days=1))
    skill_weights = {
        code: weight * (3.0 if code in plan.favourite_skills else 1.0)
        for code, weight in _SKILL_WEIGHTS.items()
    }
    trigger_weights = {
        code: weight * (3.0 if code in plan.favourite_triggers else 1.0)
        for code, weight in _TRIGGER_WEIGHTS.items()
    }

    history = []
    drift = 0.0  # craving wanders for days at a time, not independently each day
    helped_yesterday = False
    day = first_day
    while day <= last_day:
        ago = (today - day).days
        elapsed = (day - first_day).days / max(days - 1, 1)
        outlook = _outlook(plan, ago, elapsed)
        drift = 0.6 * drift + rng.gauss(0, 0.9)
        tags = forced.get(ago)
        if tags is None and rng.random() < outlook.skip_chance:
            day += timedelta(days=1)
            helped_yesterday = False
            continue

        used = "use" in tags if tags is not None else rng.random() < outlook.use_chance
        weekend = 0.7 if day.weekday() in (4, 5) else 0.0
        craving = outlook.craving + drift + weekend + (1.5 if used else 0.0)
        craving -= 1.0 if helped_yesterday else 0.0
        craving = _clamp(round(craving), 0, 10)
        if tags and "spike" in tags:
            craving = max(craving, rng.randint(8, 10))
        mood = outlook.mood + rng.gauss(0, 0.9) - 0.3 * (craving - outlook.craving)
        mood = _clamp(round(mood - (1.5 if used else 0.0)), 0, 10)
        sleep = outlook.sleep + rng.gauss(0, 0.7) - (1.0 if used else 0.0)
        sleep = min(max(round(sleep * 4) / 4, 2.0), 12.0)
        quality = None
        if plan.answers_optional or rng.random() < 0.2:
            quality = _clamp(round(1 + (sleep - 4.0) / 1.1 + rng.gauss(0, 0.6)), 1, 5)

        skills = _weighted_sample(rng, skill_weights, max(0, round(rng.gauss(outlook.skills, 0.9))))
        attend = 0.5 if outlook.struggling else 0.85
        if day.weekday() in _GROUP_DAYS[plan.level_on(day)] and rng.random() < attend:
            skills.append("meeting_attended")
        helped_yesterday = plan.helpful_skill in skills
        custom = [rng.choice(_CUSTOM_SKILLS)] if rng.random() < 0.07 else []
        trigger_count = max(0, round(rng.gauss(0.2 + 0.3 * max(0, craving - 3), 0.7)))
        triggers = _weighted_sample(rng, trigger_weights, min(trigger_count, 4))
        substances = []
        if used:
            substances = [plan.primary_substance]
            if rng.random() < 0.2:
                others = [s for s in _SECONDARY_SUBSTANCES if s != plan.primary_substance]
                substances.append(rng.choice(others))
        medication = None
        if plan.on_medication:
            medication = rng.random() < (0.75 if outlook.struggling else 0.94)
        self_harm = None
        if tags and "self_harm" in tags:
            self_harm = True
        elif plan.answers_optional:
            self_harm = False
        note = _note(rng, used, craving, mood) if rng.random() < 0.3 else None

        written_on = day
        room = (last_write - day).days
        if room >= 1 and tags is None and rng.random() < 0.03:
            written_on = day + timedelta(days=rng.randint(1, min(3, room)))
        created_at = _at(written_on, plan.checkin_minute + rng.randint(-40, 40), zone)
        content = normalise_content({
            "craving": craving, "mood": mood, "sleep_hours": sleep, "sleep_quality": quality,
            "used_substance": used, "substances": substances, "coping_skills": skills,
            "custom_coping_skills": custom, "triggers": triggers, "medication_taken": medication,
            "self_harm_thoughts": self_harm, "note": note,
        })
        history.append(_Day(day, content, created_at, late=written_on > day))
        day += timedelta(days=1)
    return history


def _forced_days(plan: _Plan, rng: random.Random) -> dict[int, frozenset[str]]:
    """What the story needs on some days (keyed by days before today), whatever the dice say.

    Every forced day has a check-in; "use" makes it a use day, "spike" puts
    craving at 8 or more, "self_harm" reports self-harm thoughts.
    """
    forced: dict[int, set[str]] = {}
    if plan.archetype == "relapsing":
        spike = rng.randint(3, 8)
        recent_use = rng.choice([ago for ago in range(1, 7) if ago not in (spike, spike - 1)])
        forced[plan.turning_point] = {"use"}  # the return to use, two to three weeks ago
        forced[spike], forced[spike - 1] = {"spike"}, {"spike"}  # two days running
        forced[recent_use] = {"use"}
        if (plan.number - 1) % len(_ARCHETYPES) == _REPORTS_SELF_HARM:
            forced[plan.turning_point].add("self_harm")
    elif plan.archetype == "quiet":
        forced[plan.turning_point] = set()  # the last check-in before going quiet
        if rng.random() < 0.5:
            forced[plan.turning_point + rng.randint(1, 4)] = {"use"}
    return {ago: frozenset(tags) for ago, tags in forced.items()}


def _outlook(plan: _Plan, ago: int, elapsed: float) -> _Outlook:
    """The expected values of a day, ago days before today and elapsed (0..1) into the period."""
    if plan.archetype == "improving":
        # An unbroken, abstinent run of at least five weeks to date.
        settled = ago <= 35 + plan.number % 20
        return _Outlook(
            craving=7.0 - 5.0 * elapsed, mood=3.5 + 3.5 * elapsed, sleep=5.5 + 2.0 * elapsed,
            use_chance=0.12 if elapsed < 0.35 and not settled else 0.0,
            skip_chance=0.0 if settled else 0.12, skills=1.0 + 2.5 * elapsed,
        )
    if plan.archetype == "relapsing":
        if ago > plan.turning_point:
            return _Outlook(craving=3.0, mood=6.5, sleep=7.2, skip_chance=0.08, skills=2.5)
        severity = 1.0 - ago / plan.turning_point
        return _Outlook(
            craving=5.0 + 2.0 * severity, mood=5.0 - 2.0 * severity, sleep=5.8 - 1.8 * severity,
            use_chance=0.35, skip_chance=0.2, skills=1.2 - 0.7 * severity, struggling=True,
        )
    if plan.archetype == "quiet":
        # Craving creeps up and check-ins thin out over the three weeks before they stop.
        fading = max(0.0, 1.0 - (ago - plan.turning_point) / 21)
        return _Outlook(
            craving=3.5 + 2.0 * fading, mood=6.0 - 1.5 * fading, sleep=7.0 - 1.0 * fading,
            skip_chance=0.08 + 0.3 * fading, skills=2.0 - fading, struggling=fading > 0.5,
        )
    return _Outlook(craving=3.5, mood=6.0, sleep=7.0, use_chance=0.012 if ago > 21 else 0.0)


def _insert_checkins(pending: list[tuple[int, _Day]]) -> int:
    """Insert check-ins and their first revisions in bulk; return how many.

    pending holds every check-in of the patients in it. The ids are read back
    by (patient, day) rather than with RETURNING, which SQLAlchemy can only
    keep in parameter order on SQLite by inserting one row at a time. The
    inserts go to the tables, not the ORM, whose bulk path splits the rows
    into small batches wherever an optional field is None.
    """
    if not pending:
        return 0
    db.session.execute(insert(Checkin.__table__), [
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
    db.session.execute(insert(CheckinRevision.__table__), [
        {"checkin_id": ids[patient_id, entry.day], "version": 1, "content": entry.content,
         "recorded_at": entry.created_at, "recorded_by_id": patient_id}
        for patient_id, entry in pending
    ])
    return len(pending)


def _note(rng: random.Random, used: bool, craving: int, mood: int) -> str:
    if used:
        pool = "use"
    elif craving >= 7 or mood <= 3:
        pool = "hard"
    elif mood >= 7:
        pool = "good"
    else:
        pool = "plain"
    return rng.choice(_NOTES[pool])


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at minute past local midnight of day."""
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(timezone.utc)


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def _weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _weighted_sample(rng: random.Random, weights: dict[str, float], count: int) -> list[str]:
    """Draw count distinct codes, likelier ones more often (Efraimidis-Spirakis keys)."""
    if count <= 0:
        return []
    keyed = sorted(weights, key=lambda code: rng.random() ** (1.0 / weights[code]))
    return keyed[-count:]


# --- questionnaires, goals and attendance ------------------------------------------

_SCORE_PATHS = {  # PHQ-9 total at enrolment and today; GAD-7 follows at about 3/4
    "improving": (16, 5), "relapsing": (8, 16), "steady": (8, 7), "quiet": (10, 12),
}
_GOAL_TEXTS = (
    "Go to every group this week", "Call my sponsor twice", "Walk 20 minutes three times",
    "Lights out by 11 on weeknights", "Practise urge surfing when a craving hits",
    "Plan what to say if offered a drink", "Cook dinner at home four nights",
)
_DONE_CHANCE = {"improving": 0.85, "relapsing": 0.35, "steady": 0.65, "quiet": 0.3}
_MISS_CHANCE = {"improving": 0.05, "relapsing": 0.15, "steady": 0.1, "quiet": 0.2}
_SESSION_HOURS = {LevelOfCare.iop: 3.0, LevelOfCare.php: 5.0, LevelOfCare.outpatient: 1.0}


def _seed_care_records(plan: _Plan, patient_id: int, clinician_id: int, now: datetime) -> None:
    """Add the patient's questionnaires (every 14 days), weekly goals and group sessions."""
    rng = random.Random(plan.seed * 7919 + 17)
    zone = ZoneInfo(plan.timezone)
    today = local_today(now, plan.timezone)
    enrolled = local_today(plan.enrolled_at, plan.timezone)
    # The quiet stopped everything when they stopped checking in.
    last_active = today - timedelta(days=plan.turning_point) if plan.archetype == "quiet" else today
    relapse_from = today - timedelta(days=plan.turning_point)
    records: list = []

    start, end = _SCORE_PATHS[plan.archetype]
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
            answers = _answers_adding_to(_clamp(total, 0, ceiling - 3), items, rng)
            scored = score(instrument, answers)
            records.append(AssessmentResponse(
                patient_id=patient_id, assignment_id=assignment.id, occurrence_on=occurrence,
                instrument=instrument, answers=answers, total=scored.total,
                band=scored.band.code if scored.band else None,
                subscales={code: sub.to_dict() for code, sub in scored.subscales.items()},
                item9=scored.item9, crisis=scored.crisis, local_day=answered_on,
                submitted_at=min(_at(answered_on, plan.checkin_minute, zone), now),
            ))
            occurrence += timedelta(days=14)

    this_monday = today - timedelta(days=today.weekday())
    for weeks_back in range(4, -1, -1):
        monday = this_monday - timedelta(weeks=weeks_back)
        if monday < enrolled - timedelta(days=enrolled.weekday()) or monday > last_active:
            continue
        for text in rng.sample(_GOAL_TEXTS, rng.randint(2, 3)):
            done = weeks_back > 0 and rng.random() < _DONE_CHANCE[plan.archetype]
            done_on = monday + timedelta(days=rng.randint(1, 6))
            records.append(WeeklyGoal(
                patient_id=patient_id, week_start=monday, text=text,
                created_at=min(_at(monday, plan.checkin_minute, zone), now),
                done_at=min(_at(done_on, plan.checkin_minute, zone), now) if done else None,
            ))

    day = max(enrolled, today - timedelta(weeks=8))
    while day < today:
        level = plan.level_on(day)
        if day.weekday() in _GROUP_DAYS[level]:
            miss = _MISS_CHANCE[plan.archetype]
            if plan.archetype == "relapsing" and day >= relapse_from:
                miss = 0.55
            if day > last_active:
                miss = 1.0
            status = AttendanceStatus.missed if rng.random() < miss else (
                AttendanceStatus.excused if rng.random() < 0.04 else AttendanceStatus.attended)
            records.append(AttendanceRecord(
                patient_id=patient_id, session_date=day, kind=SessionKind.group, status=status,
                hours=_SESSION_HOURS[level], recorded_by_id=clinician_id,
                recorded_at=min(_at(day, 21 * 60, zone), now),
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
