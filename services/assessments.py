"""Answering questionnaires: the instruments, what a patient has due today, submitting, their own history.

Rules chosen here (the issue left them open): an answer when no occurrence is
open, to an ended assignment, or to an occurrence already answered is refused
with Conflict (409): the body can be perfectly valid, it is the schedule's
state that refuses it. Bad answers are InvalidInput (422), every problem at
once under errors.answers.<item>.

The schedule is services.assessment_schedule; score history is
services.assessment_history.
"""
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import AssessmentAssignment, AssessmentResponse, Organization, Role, User, db, savepoint

from .access import own_profile
from .alerts import alerts_after_assessment
from .assessment_history import list_responses, response_summary
from .assessment_schedule import DueAssessments, Occurrence, due_on, next_occurrence, open_occurrence
from .crisis import crisis_resources, crisis_signal
from .days import local_today
from .errors import Conflict, InvalidInput, NotAllowed, NotFound
from .instruments import INSTRUMENTS
from .scoring import score, validate_answers


class AssessmentNotOpen(Conflict):
    """No occurrence of the assignment is open on the patient's local today."""


class AssessmentAlreadyAnswered(Conflict):
    """The open occurrence already has a response."""


# --- instruments ---------------------------------------------------------------

def list_instruments() -> list[dict[str, Any]]:
    """Describe every instrument exactly as it is scored, for a client to render."""
    return [instrument.to_dict() for instrument in INSTRUMENTS.values()]


# --- the patient's side ------------------------------------------------------------

def due_assessments(actor: User, now: datetime) -> DueAssessments:
    """Return what the patient has to answer on their local today, and what comes next."""
    patient = _require_patient(actor)
    today = local_today(now, own_profile(patient).timezone)
    assignments = list(db.session.scalars(
        select(AssessmentAssignment).where(
            AssessmentAssignment.patient_id == patient.id, AssessmentAssignment.ended_at.is_(None),
        )
    ))
    open_days = {
        a.id: o.occurrence_on for a in assignments if (o := open_occurrence(a, today)) is not None
    }
    answered: set[tuple[int, date]] = set()
    if open_days:
        rows = db.session.execute(
            select(AssessmentResponse.assignment_id, AssessmentResponse.occurrence_on).where(
                AssessmentResponse.assignment_id.in_(open_days),
                AssessmentResponse.occurrence_on.in_(set(open_days.values())),
            )
        )
        answered = {(assignment_id, day) for assignment_id, day in rows}
    return due_on(assignments, answered, today)


@dataclass(frozen=True)
class SubmittedAssessment:
    """A stored response as scored, with change and, on a crisis signal, where to get help now."""

    summary: dict[str, Any]
    crisis_resources: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """Return the summary, with crisis_resources only when there are any."""
        if self.crisis_resources is None:
            return dict(self.summary)
        return {**self.summary, "crisis_resources": self.crisis_resources}


def submit_assessment(actor: User, assignment_id: int, answers: dict[str, Any], now: datetime) -> SubmittedAssessment:
    """Score and store the patient's answers to the occurrence open today."""
    patient = _require_patient(actor)
    assignment = db.session.scalars(
        select(AssessmentAssignment).where(
            AssessmentAssignment.id == assignment_id, AssessmentAssignment.patient_id == patient.id,
        )
    ).one_or_none()
    if assignment is None:
        raise NotFound("No such questionnaire for you.")
    today = local_today(now, own_profile(patient).timezone)
    occurrence = _open_or_refuse(assignment, today)
    if _is_answered(assignment.id, occurrence.occurrence_on):
        raise _already_answered(occurrence)
    problems = validate_answers(assignment.instrument, answers)
    if problems:
        # errors.answers holds one list per item: the envelope nests it as is, though
        # DomainError's annotation only knows one level.
        raise InvalidInput("Some answers are missing or invalid; see errors.answers.",
                           {"answers": problems})  # type: ignore[dict-item]

    scored = score(assignment.instrument, answers)
    response = AssessmentResponse(
        patient_id=patient.id, assignment_id=assignment.id, occurrence_on=occurrence.occurrence_on,
        instrument=assignment.instrument, answers=dict(answers), total=scored.total,
        band=scored.band.code if scored.band else None,
        subscales={code: sub.to_dict() for code, sub in scored.subscales.items()},
        item9=scored.item9, crisis=scored.crisis, local_day=today, submitted_at=now,
    )
    # The unique (assignment_id, occurrence_on) settles a race with a second
    # phone that passed the check above at the same moment.
    nested = savepoint()
    try:
        db.session.add(response)
        db.session.flush()
    except IntegrityError:
        nested.rollback()
        raise _already_answered(occurrence) from None
    nested.commit()
    alerts_after_assessment(patient, response, now)

    summary = response_summary(response)
    resources = None
    if crisis_signal(response) is not None:
        resources = crisis_resources(db.session.get_one(Organization, patient.organization_id))
    return SubmittedAssessment(summary, resources)


def _open_or_refuse(assignment: AssessmentAssignment, today: date) -> Occurrence:
    if assignment.ended_at is not None:
        raise AssessmentNotOpen("Your care team has stopped this questionnaire; it cannot be answered.")
    occurrence = open_occurrence(assignment, today)
    if occurrence is None:
        upcoming = next_occurrence(assignment, today)  # None only once ended, refused above
        opens = f"; the next one opens on {upcoming.occurrence_on.isoformat()}" if upcoming else ""
        raise AssessmentNotOpen(f"This questionnaire is not open today ({today.isoformat()}){opens}.")
    return occurrence


def _is_answered(assignment_id: int, occurrence_on: date) -> bool:
    return db.session.scalar(
        select(AssessmentResponse.id).where(
            AssessmentResponse.assignment_id == assignment_id,
            AssessmentResponse.occurrence_on == occurrence_on,
        )
    ) is not None


def _already_answered(occurrence: Occurrence) -> AssessmentAlreadyAnswered:
    return AssessmentAlreadyAnswered(
        f"This questionnaire (due {occurrence.occurrence_on.isoformat()}) has already been answered."
    )


def _require_patient(actor: User) -> User:
    if actor.role is not Role.patient or actor.patient_profile is None:
        raise NotAllowed("Only patients answer questionnaires.")
    return actor


def list_own_responses(
    actor: User, instrument: str | None, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the patient's own scored responses, newest first, and the total."""
    patient = _require_patient(actor)
    return list_responses(patient, patient.id, instrument, page, page_size)
