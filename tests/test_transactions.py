"""A request's unit of work is all or nothing, savepoints included, on every backend."""
from sqlalchemy import func, select

from models import Checkin, db
from services.checkins import sync_checkins
from tests.factories import checkin_body


def test_a_savepoint_released_inside_a_transaction_is_undone_by_its_rollback(app, make, clock):
    patient = make.patient()
    entry = {"date": clock.now.date(), **checkin_body()}

    results = sync_checkins(patient, [entry], clock.now)
    db.session.rollback()

    assert [r.outcome for r in results] == ["created"]
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
