"""A request the database chose as a deadlock's victim runs again, when it can do so cleanly (api.database)."""
import threading
import time

import psycopg.errors
import pytest
from flask import jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from api.database import RACE_ATTEMPTS
from api.resources import checkins as checkins_resource
from models import Alert, AuditEvent, Checkin, CheckinRevision, db
from services import checkins
from tests.factories import checkin_body, problem

TODAY = "2026-11-23"  # the frozen clock's day in New York


def deadlock() -> OperationalError:
    """Return what SQLAlchemy raises when PostgreSQL aborts a deadlock's victim (SQLSTATE 40P01)."""
    return OperationalError("UPDATE caseload_rows ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))


def losing_record_checkin(monkeypatch, losses: int) -> list:
    """Make the PUT's write do all its work, then lose a deadlock, the first `losses` times; return the calls."""
    calls = []
    real = checkins_resource.record_checkin

    def record_checkin(*args, **kwargs):
        calls.append(args)
        write = real(*args, **kwargs)
        if len(calls) <= losses:
            raise deadlock()
        return write

    monkeypatch.setattr(checkins_resource, "record_checkin", record_checkin)
    return calls


def test_a_check_in_that_lost_a_deadlock_is_written_once_by_the_next_attempt(client, auth, patient, count,
                                                                           monkeypatch):
    calls = losing_record_checkin(monkeypatch, losses=1)

    # Self-harm thoughts: the first attempt had raised the urgent alert (and owed its notice) too.
    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json=checkin_body(self_harm_thoughts=True))

    assert response.status_code == 201, response.json
    assert len(calls) == 2
    assert response.json["crisis_resources"]
    assert count(Checkin) == 1 and count(CheckinRevision) == 1
    [alert] = db.session.scalars(select(Alert))
    assert (alert.rule, alert.trigger_count) == ("self_harm", 1)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.resource == "checkins.MyCheckinDay"))
    assert (event.outcome, event.status_code) == ("allowed", 201)


def test_a_request_that_loses_every_attempt_answers_503_and_keeps_nothing(client, auth, count, monkeypatch):
    calls = losing_record_checkin(monkeypatch, losses=RACE_ATTEMPTS)

    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json=checkin_body())

    problem(response, 503)
    assert response.headers["Retry-After"]
    assert len(calls) == RACE_ATTEMPTS
    assert count(Checkin) == 0 and count(CheckinRevision) == 0


@pytest.fixture
def race_route(app):
    """Add POST /api/v1/race-probe running view() (which loses a deadlock) to this test's app."""
    def add(view):
        calls = []

        def probe():
            calls.append(1)
            view()
            raise deadlock()

        probe.__name__ = view.__name__
        app.add_url_rule("/api/v1/race-probe", "race_probe", probe, methods=["POST"])
        return calls

    return add


def test_a_request_that_committed_something_is_not_run_again(client, race_route):
    def commits_first():
        db.session.execute(text("SELECT 1"))
        db.session.commit()  # e.g. a login's failure count: it must not be counted twice

    calls = race_route(commits_first)

    problem(client.post("/api/v1/race-probe"), 503)
    assert len(calls) == 1


def test_a_request_that_counted_against_a_rate_limit_is_not_run_again(client, race_route):
    from api.security import limiter

    calls = race_route(limiter.limit("100 per minute")(lambda: jsonify({})))

    problem(client.post("/api/v1/race-probe"), 503)
    assert len(calls) == 1


def test_an_edit_postgresql_aborts_to_break_a_real_deadlock_goes_through_on_its_next_attempt(
        postgres_only, app, make, patient, auth, monkeypatch, caplog):
    """Another transaction holds the day and waits for the patient's lock, which the edit holds.

    The edit is made to wait for the day second, so that its own deadlock
    check (after deadlock_timeout) is the one that finds the cycle: it is
    the victim, rolls back, and runs again once the other has finished.
    """
    day = make.checkin(patient, checkins.date(2026, 11, 22), craving=1)
    holds_patient, go_on = threading.Event(), threading.Event()
    real_desk = checkins.Desk.of

    def desk_after_a_pause(patient, now):
        if not holds_patient.is_set():  # the first attempt only
            holds_patient.set()
            go_on.wait(10)
        return real_desk(patient, now)

    monkeypatch.setattr(checkins.Desk, "of", desk_after_a_pause)
    answer = {}

    def edit():
        with app.app_context():
            response = app.test_client().put("/api/v1/me/checkins/2026-11-22",
                                             headers={**auth, "If-Match": '"1"'}, json=checkin_body(craving=6))
            answer.update(status=response.status_code, body=response.get_json())
            db.session.remove()

    other, patient_id = db.engine.connect(), patient.id

    def wait_for_patient():
        other.execute(text("SELECT user_id FROM patient_profiles WHERE user_id = :id FOR NO KEY UPDATE"),
                      {"id": patient_id})
        other.rollback()

    editing, waiting = threading.Thread(target=edit), threading.Thread(target=wait_for_patient)
    try:
        other.exec_driver_sql("SET deadlock_timeout = '30s'")  # never the victim
        other.execute(text("SELECT id FROM checkins WHERE id = :id FOR UPDATE"), {"id": day.id})
        editing.start()
        assert holds_patient.wait(10)
        waiting.start()
        _until_sessions_wait_on_a_lock(1)
    finally:
        go_on.set()
        editing.join(30)
        if not waiting.is_alive():
            other.rollback()
        waiting.join(30)
        other.close()

    assert answer["status"] == 200, answer
    assert answer["body"]["version"] == 2 and answer["body"]["craving"] == 6
    assert any("lost a lock race (40P01)" in record.getMessage() for record in caplog.records)
    db.session.expire_all()
    assert list(db.session.scalars(select(CheckinRevision.version).order_by(CheckinRevision.version))) == [1, 2]


def _until_sessions_wait_on_a_lock(sessions: int) -> None:
    deadline = time.monotonic() + 10
    with db.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            watcher.rollback()
            if waiting >= sessions:
                return
            time.sleep(0.02)
    pytest.fail("the other transaction never waited for the patient's lock")
