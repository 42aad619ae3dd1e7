"""A request's unit of work is all or nothing, savepoints included, on every backend."""
import pytest
from sqlalchemy import func, select

from models import Checkin, db
from services.checkin_sync import sync_checkins
from tests.factories import checkin_body


def test_a_savepoint_released_inside_a_transaction_is_undone_by_its_rollback(app, make, clock):
    patient = make.patient()
    entry = {"date": clock.now.date(), **checkin_body()}

    results = sync_checkins(patient, [entry], clock.now)
    db.session.rollback()

    assert [r.outcome for r in results] == ["created"]
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0


def test_an_edit_reads_the_day_under_the_write_lock_another_process_may_hold(app, make, clock, database_url):
    """Two gunicorn processes on one SQLite file: an edit whose If-Match was true when it
    read must not overwrite an edit another process commits before it writes.

    The other process is a second connection that has taken the write lock and
    changed the day to version 2; it commits a moment later. The edit sent with
    version 1 must then be refused, not written over version 2.
    """
    import threading
    import time

    from sqlalchemy import create_engine, text

    from services.checkins import record_checkin
    from services.errors import StaleVersion

    patient = make.patient()
    day = clock.now.date()
    make.checkin(patient, day, craving=1)
    other_process = create_engine(database_url, connect_args={"timeout": 10} if database_url.startswith("sqlite")
                                  else {})
    try:
        connection = other_process.connect()
        if database_url.startswith("sqlite"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.begin()
        connection.execute(text("UPDATE checkins SET craving = 9, version = 2 WHERE patient_id = :p"),
                           {"p": patient.id})

        def commit_soon():
            time.sleep(0.5)
            connection.commit()

        committer = threading.Thread(target=commit_soon)
        committer.start()
        try:
            with pytest.raises(StaleVersion):
                record_checkin(patient, day, checkin_body(craving=5), ["1"], clock.now)
        finally:
            committer.join()
            connection.close()
    finally:
        other_process.dispose()
    db.session.rollback()
    assert db.session.scalar(select(Checkin.craving).where(Checkin.patient_id == patient.id)) == 9
