"""Score history: each scored response with its change from the previous and the first of its instrument.

Scores are kept as scored at the time; change is computed from the stored
totals and subscales, never by rescoring old answers.
"""
from typing import Any

from sqlalchemy import JSON, ColumnElement, Row, Subquery, func, select

from models import AssessmentResponse, User, db

from .access import patient_in_reach
from .instruments import get_instrument
from .paging import one_page
from .scoring import Score, SubscaleScore, change


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
    by, order = (r.c.patient_id, r.c.instrument), (r.c.submitted_at, r.c.id)
    ranked = select(
        r.c.id,
        func.lag(r.c.id).over(partition_by=by, order_by=order).label("previous_id"),
        # A ROWS frame: the same first row as the default RANGE frame (the order is
        # total), without the peer-row bookkeeping that costs SQLite a third of the query.
        func.first_value(r.c.id).over(partition_by=by, order_by=order, rows=(None, 0)).label("first_id"),
        # None for the newest of the series.
        func.lead(r.c.id).over(partition_by=by, order_by=order).label("next_id"),
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


def _history_conditions(patient_id: int, instrument: str | None) -> list[ColumnElement[bool]]:
    conditions = [AssessmentResponse.patient_id == patient_id]
    if instrument is not None:
        conditions.append(AssessmentResponse.instrument == instrument)
    return conditions


def _windowed(conditions: list[ColumnElement[bool]]) -> Subquery:
    """Return the responses matching conditions, each with its previous and first of the instrument.

    Window functions partition by (patient, instrument) in submission order,
    so any filter on patient or instrument leaves the figures unchanged.
    """
    r = AssessmentResponse
    by, order = (r.patient_id, r.instrument), (r.submitted_at, r.id)
    return select(
        r.id, r.patient_id, r.assignment_id, r.instrument, r.occurrence_on, r.local_day,
        r.submitted_at, r.answers, r.total, r.band, r.subscales, r.item9, r.crisis,
        func.lag(r.total).over(partition_by=by, order_by=order).label("previous_total"),
        func.lag(r.subscales, type_=JSON).over(partition_by=by, order_by=order).label("previous_subscales"),
        func.lag(r.id).over(partition_by=by, order_by=order).label("previous_id"),
        func.first_value(r.total).over(partition_by=by, order_by=order).label("first_total"),
        func.first_value(r.subscales, type_=JSON).over(partition_by=by, order_by=order).label("first_subscales"),
        func.first_value(r.id).over(partition_by=by, order_by=order).label("first_id"),
        func.row_number().over(partition_by=by, order_by=(r.submitted_at.desc(), r.id.desc())).label("newest_rank"),
    ).where(*conditions).subquery("scored")


def response_summary(response: AssessmentResponse) -> dict[str, Any]:
    """Return one stored response as scored, with its change (the shape of a latest_scores value)."""
    window = _windowed([AssessmentResponse.patient_id == response.patient_id,
                        AssessmentResponse.instrument == response.instrument])
    return _summary(db.session.execute(select(window).where(window.c.id == response.id)).one())


def _summary(row: Row[Any]) -> dict[str, Any]:
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


def _stored_score(code: str, total: int | None, subscales: dict[str, Any] | None, band_code: str | None = None,
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
