"""Questionnaires on a schedule: assignments, what is due, answers, and score history.

A clinician assigns an instrument with a cadence: occurrence k falls on
starts_on + k * cadence_days and stays answerable on the patient's local days
[occurrence, occurrence + window_days - 1]. window_days never exceeds
cadence_days, so at most one occurrence of an assignment is open on any day.

Rules chosen here (the issue left them open):
- One active assignment per instrument per patient. A second is refused with
  Conflict (409) naming the active one; the clinician ends it first. Silently
  replacing it would let one member of a care team undo another's schedule.
- An answer when no occurrence is open, to an ended assignment, or to an
  occurrence already answered is refused with Conflict (409): the body can be
  perfectly valid, it is the schedule's state that refuses it. Bad answers are
  InvalidInput (422), every problem at once under errors.answers.<item>.
- Scores are kept as scored at the time; change is computed from the stored
  totals and subscales, never by rescoring old answers.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, func, select
from sqlalchemy.exc import IntegrityError

from models import (
    AssessmentAssignment, AssessmentResponse, Organization, PatientProfile, Role, User, db, savepoint,
)

from .access import patient_in_reach, require_role
from .days import local_today
from .errors import Conflict, InvalidInput, NotAllowed, NotFound
from .instruments import INSTRUMENTS, get_instrument
from .scoring import Score, SubscaleScore, change, score, validate_answers
from .paging import one_page

MAX_CADENCE_DAYS = 90
# How far ahead a clinician may schedule the first occurrence.
MAX_START_AHEAD_DAYS = 366


class AssessmentNotOpen(Conflict):
    """No occurrence of the assignment is open on the patient's local today."""


class AssessmentAlreadyAnswered(Conflict):
    """The open occurrence already has a response."""


# --- the schedule (pure) -----------------------------------------------------

class Schedule(Protocol):
    """What the occurrence arithmetic reads from an assignment."""

    id: int | None
    instrument: str
    starts_on: date
    cadence_days: int
    window_days: int
    ended_at: datetime | None


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
    assignments: list[Schedule], answered: set[tuple[int, date]], today: date
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


# --- instruments ---------------------------------------------------------------

def list_instruments() -> list[dict[str, Any]]:
    """Describe every instrument exactly as it is scored, for a client to render."""
    return [instrument.to_dict() for instrument in INSTRUMENTS.values()]


# --- assignments -----------------------------------------------------------------

def assign_assessment(actor: User, patient_id: int, order: dict, now: datetime) -> AssessmentAssignment:
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


# --- the patient's side ------------------------------------------------------------

def due_assessments(actor: User, now: datetime) -> DueAssessments:
    """Return what the patient has to answer on their local today, and what comes next."""
    patient = _require_patient(actor)
    today = local_today(now, patient.patient_profile.timezone)
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


def submit_assessment(actor: User, assignment_id: int, answers: dict, now: datetime) -> SubmittedAssessment:
    """Score and store the patient's answers to the occurrence open today."""
    patient = _require_patient(actor)
    assignment = db.session.scalars(
        select(AssessmentAssignment).where(
            AssessmentAssignment.id == assignment_id, AssessmentAssignment.patient_id == patient.id,
        )
    ).one_or_none()
    if assignment is None:
        raise NotFound("No such questionnaire for you.")
    today = local_today(now, patient.patient_profile.timezone)
    occurrence = _open_or_refuse(assignment, today)
    if _is_answered(assignment.id, occurrence.occurrence_on):
        raise _already_answered(occurrence)
    problems = validate_answers(assignment.instrument, answers)
    if problems:
        raise InvalidInput("Some answers are missing or invalid; see errors.answers.",
                           {"answers": problems})

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
    from .alerts import alerts_after_assessment  # alerts reads assessments: import late

    alerts_after_assessment(patient, response, now)

    summary = _summaries(_windowed([AssessmentResponse.patient_id == patient.id,
                                    AssessmentResponse.instrument == assignment.instrument]),
                         lambda w: w.c.id == response.id)[0]
    resources = None
    if crisis_signal(response) is not None:
        resources = crisis_resources(db.session.get(Organization, patient.organization_id))
    return SubmittedAssessment(summary, resources)


def _open_or_refuse(assignment: AssessmentAssignment, today: date) -> Occurrence:
    if assignment.ended_at is not None:
        raise AssessmentNotOpen("Your care team has stopped this questionnaire; it cannot be answered.")
    occurrence = open_occurrence(assignment, today)
    if occurrence is None:
        upcoming = next_occurrence(assignment, today)
        raise AssessmentNotOpen(
            f"This questionnaire is not open today ({today.isoformat()}); "
            f"the next one opens on {upcoming.occurrence_on.isoformat()}."
        )
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


# --- safety ------------------------------------------------------------------------

@dataclass(frozen=True)
class CrisisSignal:
    """A response that must reach the care team at once (PHQ-9 item 9 above 0)."""

    patient_id: int
    response_id: int
    instrument: str
    item9: int | None
    local_day: date


def crisis_signal(response: AssessmentResponse) -> CrisisSignal | None:
    """Return the crisis signal a stored response carries, or None.

    The one place that decides it: the submission uses it to show crisis
    resources, and the alert rules are meant to call it on every new response.
    """
    if not response.crisis:
        return None
    return CrisisSignal(response.patient_id, response.id, response.instrument, response.item9,
                        response.local_day)


def crisis_resources(organization: Organization) -> dict[str, Any]:
    """Return where a patient in crisis can get help right now."""
    return {
        "message": (
            "You mentioned thoughts of being better off dead or of hurting yourself. "
            "You deserve support right now: you can call or text 988 any time, day or night. "
            "If you are in immediate danger, call 911."
        ),
        "lifeline": {
            "name": "988 Suicide & Crisis Lifeline",
            "call": "988", "text": "988", "chat_url": "https://988lifeline.org",
        },
        "emergency_number": "911",
        # The program's own crisis line, from the organization's settings.
        "program": {"name": organization.name, "phone": organization.crisis_phone},
    }


# --- history and dashboards ----------------------------------------------------------

def list_responses(
    actor: User, patient_id: int, instrument: str | None, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of a patient's scored responses, newest first, and the total."""
    profile = patient_in_reach(actor, patient_id)
    conditions = _history_conditions(profile.user_id, instrument)
    window = _windowed(conditions)
    query, total = one_page(
        select(window).order_by(window.c.submitted_at.desc(), window.c.id.desc()), page, page_size
    )
    return [_summary(row) for row in db.session.execute(query)], total


def list_own_responses(
    actor: User, instrument: str | None, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the patient's own scored responses, newest first, and the total."""
    patient = _require_patient(actor)
    return list_responses(patient, patient.id, instrument, page, page_size)


def score_history(patient_id: int, instrument: str | None = None) -> list[dict[str, Any]]:
    """Return every scored response of a patient, oldest first, each with its change.

    One statement. Each entry has the shape of a latest_scores value.
    """
    window = _windowed(_history_conditions(patient_id, instrument))
    rows = db.session.execute(select(window).order_by(window.c.submitted_at, window.c.id))
    return [_summary(row) for row in rows]


def latest_scores(patient_ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Return each patient's latest response per instrument, with change, in one statement.

    {patient_id: {instrument code: summary}}; every id asked for is a key,
    with {} when the patient has no responses. A summary is
    {response_id, assignment_id, instrument, occurrence_on, local_day,
    submitted_at, total, band: {code, label} | None, subscales: {code:
    {label, score, range, concern}}, item9, crisis, answers, change:
    {from_previous, from_first, reliable_change_previous,
    reliable_change_first, threshold, subscales: {code: {from_previous,
    from_first}}}}.
    """
    latest: dict[int, dict[str, dict[str, Any]]] = {patient_id: {} for patient_id in patient_ids}
    if not latest:
        return latest
    # The window functions run over ids only; the three responses each
    # summary needs (latest, previous, first) are joined back by id, so a
    # year of responses costs a sort of integers, not of every JSON column.
    r = AssessmentResponse.__table__
    series = {"partition_by": (r.c.patient_id, r.c.instrument), "order_by": (r.c.submitted_at, r.c.id)}
    ranked = select(
        r.c.id,
        func.lag(r.c.id).over(**series).label("previous_id"),
        # A ROWS frame: the same first row as the default RANGE frame (the order is
        # total), without the peer-row bookkeeping that costs SQLite a third of the query.
        func.first_value(r.c.id).over(**series, rows=(None, 0)).label("first_id"),
        func.lead(r.c.id).over(**series).label("next_id"),  # None for the newest of the series
    ).where(r.c.patient_id.in_(list(latest))).subquery("ranked")
    current, previous, first = r.alias("current"), r.alias("previous"), r.alias("first")
    rows = db.session.connection().execute(
        select(
            current.c.id, current.c.patient_id, current.c.assignment_id, current.c.instrument,
            current.c.occurrence_on, current.c.local_day, current.c.submitted_at, current.c.answers,
            current.c.total, current.c.band, current.c.subscales, current.c.item9, current.c.crisis,
            previous.c.total.label("previous_total"), previous.c.subscales.label("previous_subscales"),
            ranked.c.previous_id, first.c.total.label("first_total"),
            first.c.subscales.label("first_subscales"), ranked.c.first_id,
        )
        .select_from(ranked)
        .join(current, current.c.id == ranked.c.id)
        .outerjoin(previous, previous.c.id == ranked.c.previous_id)
        .join(first, first.c.id == ranked.c.first_id)
        .where(ranked.c.next_id.is_(None))
    )
    for row in rows:
        summary = _summary(row)
        latest[summary["patient_id"]][summary["instrument"]] = summary
    return latest


def _history_conditions(patient_id: int, instrument: str | None) -> list:
    conditions = [AssessmentResponse.patient_id == patient_id]
    if instrument is not None:
        conditions.append(AssessmentResponse.instrument == instrument)
    return conditions


def _windowed(conditions: list):
    """Return the responses matching conditions, each with its previous and first of the instrument.

    Window functions partition by (patient, instrument) in submission order,
    so any filter on patient or instrument leaves the figures unchanged.
    """
    r = AssessmentResponse
    series = {"partition_by": (r.patient_id, r.instrument), "order_by": (r.submitted_at, r.id)}
    return select(
        r.id, r.patient_id, r.assignment_id, r.instrument, r.occurrence_on, r.local_day,
        r.submitted_at, r.answers, r.total, r.band, r.subscales, r.item9, r.crisis,
        func.lag(r.total).over(**series).label("previous_total"),
        func.lag(r.subscales, type_=JSON).over(**series).label("previous_subscales"),
        func.lag(r.id).over(**series).label("previous_id"),
        func.first_value(r.total).over(**series).label("first_total"),
        func.first_value(r.subscales, type_=JSON).over(**series).label("first_subscales"),
        func.first_value(r.id).over(**series).label("first_id"),
        func.row_number().over(
            partition_by=series["partition_by"], order_by=(r.submitted_at.desc(), r.id.desc()),
        ).label("newest_rank"),
    ).where(*conditions).subquery("scored")


def _summaries(window, condition) -> list[dict[str, Any]]:
    return [_summary(row) for row in db.session.execute(select(window).where(condition(window)))]


def _summary(row) -> dict[str, Any]:
    instrument = get_instrument(row.instrument)
    current = _stored_score(row.instrument, row.total, row.subscales, row.band, row.crisis, row.item9)
    previous = (_stored_score(row.instrument, row.previous_total, row.previous_subscales)
                if row.previous_id is not None else None)
    first = (_stored_score(row.instrument, row.first_total, row.first_subscales)
             if row.first_id != row.id else None)
    band = next((b for b in instrument.bands if b.code == row.band), None)
    return {
        "response_id": row.id, "patient_id": row.patient_id, "assignment_id": row.assignment_id,
        "instrument": row.instrument, "occurrence_on": row.occurrence_on, "local_day": row.local_day,
        "submitted_at": row.submitted_at, "total": row.total,
        "band": band.to_dict() if band else ({"code": row.band, "label": row.band} if row.band else None),
        "subscales": dict(row.subscales or {}), "item9": row.item9, "crisis": bool(row.crisis),
        "answers": dict(row.answers or {}),
        "change": change(row.instrument, current, previous, first).to_dict(),
    }


def _stored_score(code: str, total: int | None, subscales: dict | None, band_code: str | None = None,
                  crisis: bool = False, item9: int | None = None) -> Score:
    """Rebuild a Score from what was stored when it was submitted (never rescored)."""
    instrument = get_instrument(code)
    return Score(
        instrument=code, version=instrument.version, total=total,
        band=next((b for b in instrument.bands if b.code == band_code), None),
        subscales={
            sub_code: SubscaleScore(sub_code, sub["label"], sub["score"], sub["range"][0],
                                    sub["range"][1], sub["concern"])
            for sub_code, sub in (subscales or {}).items()
        },
        crisis=bool(crisis), item9=item9,
    )
