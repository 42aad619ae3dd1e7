"""Who each demo patient is and what each of their days holds, before anything is written.

A patient's plan and check-in history depend only on their number, now and
the number of days: each draws from a random generator seeded with the
patient's number, so a given ``now`` always gives the same clinic.
"""
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from models import TRIGGERS, LevelOfCare

from .checkins import normalise_content
from .days import local_today
from .demo_tables import (
    ARCHETYPES,
    CUSTOM_SKILLS,
    DAY_PROGRAM_FROM_START,
    FIRST_NAMES,
    GROUP_DAYS,
    LAST_NAMES,
    NOTES,
    OUTPATIENT_FROM_START,
    PRIMARY_SUBSTANCES,
    REPORTS_SELF_HARM,
    SECONDARY_SUBSTANCES,
    SKILL_CODES,
    SKILL_WEIGHTS,
    STEPS_DOWN,
    STEPS_UP,
    TIMEZONES,
    TRIGGER_WEIGHTS,
)


@dataclass(frozen=True)
class LevelChange:
    level: LevelOfCare
    effective_date: date
    changed_at: datetime
    note: str


@dataclass(frozen=True)
class PatientPlan:
    """Who a demo patient is and how their story goes."""

    number: int
    email: str
    display_name: str
    timezone: str
    archetype: str
    clinicians: tuple[int, ...]  # indexes into CLINICIANS, the primary first
    enrolled_at: datetime
    recovery_start: date
    level_changes: tuple[LevelChange, ...]  # oldest first; the first is the enrolment
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


def plan_patient(number: int, now: datetime, days: int) -> PatientPlan:
    """Decide a patient's profile and story (deterministic in number, now and days)."""
    rng = random.Random(f"waypoint-demo-patient-{number}")
    position = (number - 1) % len(ARCHETYPES)
    archetype = ARCHETYPES[position]
    zone_name = TIMEZONES[(number - 1) % len(TIMEZONES)]
    zone = ZoneInfo(zone_name)
    today = local_today(now, zone_name)
    first_day = today - timedelta(days=max(days, 1))

    enrol_day = first_day - timedelta(days=rng.randint(0, 3))
    enrolled_at = local_instant(enrol_day, 10 * 60 + rng.randint(0, 360), zone)
    recovery_start = enrol_day - timedelta(days=rng.choice((0, 0, 3, 7, 14, 21, 30, 45)))

    if position == DAY_PROGRAM_FROM_START:
        starting = LevelOfCare.php
    elif position == OUTPATIENT_FROM_START:
        starting = LevelOfCare.outpatient
    else:
        starting = LevelOfCare.iop
    changes = [LevelChange(starting, enrol_day, enrolled_at, "Enrolled")]
    turning_point = rng.randint(14, 20) if archetype == "relapsing" else rng.randint(5, 10)
    if position == STEPS_UP:
        step = today - timedelta(days=max(1, turning_point - rng.randint(8, 11)))
        note = "Stepped up to the day program after a return to use."
        if step > enrol_day:
            changes.append(LevelChange(LevelOfCare.php, step, local_instant(step, 14 * 60, zone), note))
    elif position == STEPS_DOWN:
        step = today - timedelta(days=rng.randint(18, 28))
        note = "Stepped down to outpatient: stable, weekly goals met."
        if step > enrol_day:
            changes.append(LevelChange(LevelOfCare.outpatient, step, local_instant(step, 14 * 60, zone), note))

    # Each clinician leads half the caseload; every third patient has both.
    primary = (number - 1) % 2
    team = (primary, 1 - primary) if number % 3 == 1 else (primary,)

    substance = _weighted_choice(rng, dict(PRIMARY_SUBSTANCES))
    on_medication = rng.random() < {"opioids": 0.85, "alcohol": 0.35}.get(substance, 0.0)
    favourite_skills = tuple(rng.sample(SKILL_CODES, 3))
    index = number - 1
    first_name = FIRST_NAMES[index % len(FIRST_NAMES)]
    # Distinct names for the first 900 patients: the surname moves on once per lap.
    last_name = LAST_NAMES[(index + index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return PatientPlan(
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
class PlannedCheckin:
    """One day's check-in as planned: its content and when it was written."""

    day: date
    content: dict[str, Any]
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


def checkin_history(plan: PatientPlan, now: datetime, days: int) -> list[PlannedCheckin]:
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
        for code, weight in SKILL_WEIGHTS.items()
    }
    trigger_weights = {
        code: weight * (3.0 if code in plan.favourite_triggers else 1.0)
        for code, weight in TRIGGER_WEIGHTS.items()
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
        craving = clamp(round(craving), 0, 10)
        if tags and "spike" in tags:
            craving = max(craving, rng.randint(8, 10))
        mood = outlook.mood + rng.gauss(0, 0.9) - 0.3 * (craving - outlook.craving)
        mood = clamp(round(mood - (1.5 if used else 0.0)), 0, 10)
        sleep = outlook.sleep + rng.gauss(0, 0.7) - (1.0 if used else 0.0)
        sleep = min(max(round(sleep * 4) / 4, 2.0), 12.0)
        quality = None
        if plan.answers_optional or rng.random() < 0.2:
            quality = clamp(round(1 + (sleep - 4.0) / 1.1 + rng.gauss(0, 0.6)), 1, 5)

        skills = _weighted_sample(rng, skill_weights, max(0, round(rng.gauss(outlook.skills, 0.9))))
        attend = 0.5 if outlook.struggling else 0.85
        if day.weekday() in GROUP_DAYS[plan.level_on(day)] and rng.random() < attend:
            skills.append("meeting_attended")
        helped_yesterday = plan.helpful_skill in skills
        custom = [rng.choice(CUSTOM_SKILLS)] if rng.random() < 0.07 else []
        trigger_count = max(0, round(rng.gauss(0.2 + 0.3 * max(0, craving - 3), 0.7)))
        triggers = _weighted_sample(rng, trigger_weights, min(trigger_count, 4))
        substances = []
        if used:
            substances = [plan.primary_substance]
            if rng.random() < 0.2:
                others = [s for s in SECONDARY_SUBSTANCES if s != plan.primary_substance]
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
        created_at = local_instant(written_on, plan.checkin_minute + rng.randint(-40, 40), zone)
        content = normalise_content({
            "craving": craving, "mood": mood, "sleep_hours": sleep, "sleep_quality": quality,
            "used_substance": used, "substances": substances, "coping_skills": skills,
            "custom_coping_skills": custom, "triggers": triggers, "medication_taken": medication,
            "self_harm_thoughts": self_harm, "note": note,
        })
        history.append(PlannedCheckin(day, content, created_at, late=written_on > day))
        day += timedelta(days=1)
    return history


def _forced_days(plan: PatientPlan, rng: random.Random) -> dict[int, frozenset[str]]:
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
        if (plan.number - 1) % len(ARCHETYPES) == REPORTS_SELF_HARM:
            forced[plan.turning_point].add("self_harm")
    elif plan.archetype == "quiet":
        forced[plan.turning_point] = set()  # the last check-in before going quiet
        if rng.random() < 0.5:
            forced[plan.turning_point + rng.randint(1, 4)] = {"use"}
    return {ago: frozenset(tags) for ago, tags in forced.items()}


def _outlook(plan: PatientPlan, ago: int, elapsed: float) -> _Outlook:
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




def _note(rng: random.Random, used: bool, craving: int, mood: int) -> str:
    if used:
        pool = "use"
    elif craving >= 7 or mood <= 3:
        pool = "hard"
    elif mood >= 7:
        pool = "good"
    else:
        pool = "plain"
    return rng.choice(NOTES[pool])


def local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Return the UTC instant at minute past local midnight of day."""
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return local.astimezone(timezone.utc)


def clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def _weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _weighted_sample(rng: random.Random, weights: dict[str, float], count: int) -> list[str]:
    """Draw count distinct codes, likelier ones more often (Efraimidis-Spirakis keys)."""
    if count <= 0:
        return []
    keyed = sorted(weights, key=lambda code: rng.random() ** (1.0 / weights[code]))
    return keyed[-count:]
