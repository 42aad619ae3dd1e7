"""Questionnaires on a schedule: the occurrence arithmetic and the care team's assignments.

A clinician assigns an instrument with a cadence: occurrence k falls on
starts_on + k * cadence_days and stays answerable on the patient's local days
[occurrence, occurrence + window_days - 1]. window_days never exceeds
cadence_days, so at most one occurrence of an assignment is open on any day.

One active assignment per instrument per patient (a rule chosen here; the
issue left it open): a second is refused with Conflict (409) naming the
active one; the clinician ends it first. Silently replacing it would let one
member of a care team undo another's schedule.

Answering is services.assessments; score history is services.assessment_history.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select

from models import AssessmentAssignment, PatientProfile, Role, User, db

from .access import patient_in_reach, require_role
from .days import local_today
from .errors import Conflict, InvalidInput, NotFound
from .instruments import INSTRUMENTS

MAX_CADENCE_DAYS = 90
# How far ahead a clinician may schedule the first occurrence.
MAX_START_AHEAD_DAYS = 366

# --- the schedule (pure) -----------------------------------------------------

class Schedule(Protocol):
    """What the occurrence arithmetic reads from an assignment (read only)."""

    @property
    def id(self) -> int | None: ...
    @property
    def instrument(self) -> str: ...
    @property
    def starts_on(self) -> date: ...
    @property
    def cadence_days(self) -> int: ...
    @property
    def window_days(self) -> int: ...
    @property
    def ended_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Occurrence:
    """One scheduled questionnaire: answerable on local days occurrence_on .. due_until."""

    assignment_id: int | None
    instrument: str
    occurrence_on: date
    due_until: date


def occurrence_at(assignment: Schedule, occurrence_on: date) -> Occurrence:
    """Return the occurrence that starts on occurrence_on, with its last answerable day."""
    return Occurrence(
        assignment_id=assignment.id, instrument=assignment.instrument, occurrence_on=occurrence_on,
        due_until=occurrence_on + timedelta(days=assignment.window_days - 1),
    )


def latest_occurrence_on(assignment: Schedule, day: date) -> date | None:
    """Return the day of the last occurrence on or before day, or None before the first."""
    if day < assignment.starts_on:
        return None
    k = (day - assignment.starts_on).days // assignment.cadence_days
    return assignment.starts_on + timedelta(days=k * assignment.cadence_days)


def open_occurrence(assignment: Schedule, today: date) -> Occurrence | None:
    """Return the occurrence answerable on the patient's local today, if any."""
    if assignment.ended_at is not None:
        return None
    latest = latest_occurrence_on(assignment, today)
    if latest is None:
        return None
    occurrence = occurrence_at(assignment, latest)
    return occurrence if today <= occurrence.due_until else None


def next_occurrence(assignment: Schedule, today: date) -> Occurrence | None:
    """Return the first occurrence that opens after today (None once ended)."""
    if assignment.ended_at is not None:
        return None
    latest = latest_occurrence_on(assignment, today)
    if latest is None:
        return occurrence_at(assignment, assignment.starts_on)
    return occurrence_at(assignment, latest + timedelta(days=assignment.cadence_days))


@dataclass(frozen=True)
class DueAssessments:
    """What a patient has to answer today, and what comes next."""

    today: date
    due: list[Occurrence]
    upcoming: list[Occurrence]


def due_on(
    assignments: Sequence[Schedule], answered: set[tuple[int, date]], today: date
) -> DueAssessments:
    """Return the open, unanswered occurrences and each assignment's next one.

    answered holds (assignment id, occurrence day) pairs that have a response.
    """
    due, upcoming = [], []
    for assignment in assignments:
        current = open_occurrence(assignment, today)
        if current is not None and (assignment.id, current.occurrence_on) not in answered:
            due.append(current)
        following = next_occurrence(assignment, today)
        if following is not None:
            upcoming.append(following)
    order = lambda o: (o.occurrence_on, o.instrument, o.assignment_id or 0)  # noqa: E731
    return DueAssessments(today, sorted(due, key=order), sorted(upcoming, key=order))


# --- assignments -----------------------------------------------------------------

def assign_assessment(actor: User, patient_id: int, order: dict[str, Any], now: datetime) -> AssessmentAssignment:
    """Put an instrument on a patient's schedule (care team or admin).

    order is {instrument, cadence_days, window_days, starts_on (optional:
    the patient's local today)}.
    """
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    today = local_today(now, profile.timezone)
    starts_on = order.get("starts_on") or today
    _check_schedule(order["instrument"], order["cadence_days"], order["window_days"], starts_on, today)

    # Lock the patient's row so two concurrent orders cannot both see "no
    # active assignment" (PostgreSQL; SQLite writers are serialised already).
    db.session.execute(
        select(PatientProfile.user_id).where(PatientProfile.user_id == profile.user_id).with_for_update()
    )
    active = db.session.scalars(
        select(AssessmentAssignment).where(
            AssessmentAssignment.patient_id == profile.user_id,
            AssessmentAssignment.instrument == order["instrument"],
            AssessmentAssignment.ended_at.is_(None),
        )
    ).first()
    if active is not None:
        raise Conflict(
            f"The patient already has an active {order['instrument']} assignment "
            f"(id {active.id}); end it before assigning a new schedule.",
            {"instrument": [f"Active assignment {active.id} exists."]},
        )
    assignment = AssessmentAssignment(
        patient_id=profile.user_id, instrument=order["instrument"],
        cadence_days=order["cadence_days"], window_days=order["window_days"],
        starts_on=starts_on, assigned_by_id=actor.id, assigned_at=now,
    )
    db.session.add(assignment)
    db.session.flush()
    return assignment


def list_assignments(actor: User, patient_id: int) -> list[AssessmentAssignment]:
    """Return a patient's assignments, active ones first, newest first (care team or admin)."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    return list(db.session.scalars(
        select(AssessmentAssignment).where(AssessmentAssignment.patient_id == profile.user_id)
        .order_by(AssessmentAssignment.ended_at.is_not(None), AssessmentAssignment.assigned_at.desc(),
                  AssessmentAssignment.id.desc())
    ))


def end_assignment(actor: User, patient_id: int, assignment_id: int, now: datetime) -> AssessmentAssignment:
    """Stop an assignment; its past responses stay. Ending an ended one changes nothing."""
    profile = patient_in_reach(actor, patient_id)
    require_role(actor, Role.clinician, Role.admin)
    assignment = db.session.scalars(
        select(AssessmentAssignment).where(
            AssessmentAssignment.id == assignment_id, AssessmentAssignment.patient_id == profile.user_id,
        )
    ).one_or_none()
    if assignment is None:
        raise NotFound("No such assignment for this patient.")
    if assignment.ended_at is None:
        assignment.ended_at = now
        assignment.ended_by_id = actor.id
        db.session.flush()
    return assignment


def _check_schedule(instrument: str, cadence_days: int, window_days: int, starts_on: date,
                    today: date) -> None:
    errors = {}
    if instrument not in INSTRUMENTS:
        errors["instrument"] = [f"Choose one of {', '.join(INSTRUMENTS)}."]
    if not 1 <= cadence_days <= MAX_CADENCE_DAYS:
        errors["cadence_days"] = [f"Must be from 1 to {MAX_CADENCE_DAYS} days."]
    elif not 1 <= window_days <= cadence_days:
        errors["window_days"] = ["Must be from 1 day up to cadence_days, so occurrences never overlap."]
    if starts_on < today:
        errors["starts_on"] = [f"Is before the patient's today ({today.isoformat()})."]
    elif starts_on > today + timedelta(days=MAX_START_AHEAD_DAYS):
        errors["starts_on"] = ["Must be within a year from the patient's today."]
    if errors:
        raise InvalidInput("The schedule has invalid fields.", errors)
