"""Reading a patient's check-ins back: one day, or a page of days."""
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, Select, bindparam, func, select

from models import Checkin, db

from .errors import InvalidInput


def list_checkins(
    patient_id: int, day_from: date | None, day_to: date | None, page: int, page_size: int
) -> tuple[list[RowMapping], int]:
    """Return one page of a patient's check-ins, newest day first, and the total.

    Each check-in is a read-only mapping of a Checkin's column names to its
    values, not a Checkin: a page is only shown, and setting up and filling
    the ORM's objects cost 5 % of the cheapest request (the bench's floor).
    """
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("from is after to.", {"from": ["Must not be after 'to'."]})
    count, page_of_rows = _CHECKIN_PAGES[day_from is not None, day_to is not None]
    values: dict[str, object] = {"patient_id": patient_id}
    if day_from is not None:
        values["day_from"] = day_from
    if day_to is not None:
        values["day_to"] = day_to
    # The session's connection, in the session's transaction: the statements
    # are Core's, and the session's execute would only look for ORM work in them.
    connection = db.session.connection()
    rows = connection.execute(page_of_rows, {**values, "limit": page_size, "offset": (page - 1) * page_size}).all()
    if rows:
        return [row._mapping for row in rows], rows[0].total
    if page == 1:
        return [], 0  # nothing from the first day on: nothing at all
    # A page past the end carries no count of its own.
    return [], connection.scalar(count, values) or 0


def _checkin_pages(day_from: bool, day_to: bool) -> tuple[Select[tuple[int]], Select[Any]]:
    """Return the count, and the page with the total on each row, of a patient's check-ins, with or without each bound.

    The total rides on the page's rows (the count as a subquery that
    names no column of the row, so the database works it out once): one
    statement where two were read.
    """
    checkins = Checkin.__table__.c
    conditions = [checkins.patient_id == bindparam("patient_id")]
    if day_from:
        conditions.append(checkins.day >= bindparam("day_from"))
    if day_to:
        conditions.append(checkins.day <= bindparam("day_to"))
    count = select(func.count()).select_from(Checkin.__table__).where(*conditions)
    page = (select(*checkins, count.correlate(None).scalar_subquery().label("total")).where(*conditions)
            .order_by(checkins.day.desc()).limit(bindparam("limit")).offset(bindparam("offset")))
    return count, page


# Built once, not per request: the cheapest read of patient data (the bench's
# floor) spent half its view building these statements (0.3 ms).
_CHECKIN_PAGES = {(day_from, day_to): _checkin_pages(day_from, day_to)
                  for day_from in (False, True) for day_to in (False, True)}


def get_checkin(patient_id: int, day: date) -> Checkin | None:
    """Return the patient's check-in for a day, if there is one."""
    return db.session.scalars(
        select(Checkin).where(Checkin.patient_id == patient_id, Checkin.day == day)
    ).one_or_none()
