"""Reading a patient's check-ins back: one day, or a page of days."""
from datetime import date

from sqlalchemy import Select, bindparam, func, select

from models import Checkin, db

from .errors import InvalidInput


def list_checkins(
    patient_id: int, day_from: date | None, day_to: date | None, page: int, page_size: int
) -> tuple[list[Checkin], int]:
    """Return one page of a patient's check-ins, newest day first, and the total."""
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("from is after to.", {"from": ["Must not be after 'to'."]})
    count, page_of_rows = _CHECKIN_PAGES[day_from is not None, day_to is not None]
    values: dict[str, object] = {"patient_id": patient_id}
    if day_from is not None:
        values["day_from"] = day_from
    if day_to is not None:
        values["day_to"] = day_to
    rows = db.session.execute(page_of_rows, {**values, "limit": page_size, "offset": (page - 1) * page_size}).all()
    if rows:
        return [checkin for checkin, _total in rows], rows[0][1]
    if page == 1:
        return [], 0  # nothing from the first day on: nothing at all
    # A page past the end carries no count of its own.
    return [], db.session.scalar(count, values) or 0


def _checkin_pages(day_from: bool, day_to: bool) -> tuple[Select[tuple[int]], Select[tuple[Checkin, int]]]:
    """Return the count, and the page with the total on each row, of a patient's check-ins, with or without each bound.

    The total rides on the page's rows (the count as a subquery that
    names no column of the row, so the database works it out once): one
    statement where two were read.
    """
    conditions = [Checkin.patient_id == bindparam("patient_id")]
    if day_from:
        conditions.append(Checkin.day >= bindparam("day_from"))
    if day_to:
        conditions.append(Checkin.day <= bindparam("day_to"))
    count = select(func.count()).select_from(Checkin).where(*conditions)
    page = (select(Checkin, count.correlate(None).scalar_subquery()).where(*conditions).order_by(Checkin.day.desc())
            .limit(bindparam("limit")).offset(bindparam("offset")))
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
