"""On PostgreSQL, a request that only reads sends no BEGIN and no COMMIT; the first write begins a transaction.

api/postgres_reads.py. What PostgreSQL receives is read from libpq's own
trace of each connection the app checks out: the messages on the wire, not
what SQLAlchemy believes it sent.
"""
from datetime import date

import psycopg
import pytest
from flask import Flask
from sqlalchemy import create_engine, event, func, insert, select, text

from api.database_waits import BoundedConnection
from models import AuditEvent, Organization, User, db
from tests.factories import create_checkins

pytestmark = pytest.mark.usefixtures("postgres_only")

class Wire:
    """What the app's connections ask PostgreSQL for, in order: the first word of each statement, and the
    BEGIN, COMMIT and ROLLBACK psycopg sends of its own (the pool's check, a bare ";", left out)."""

    def __init__(self, engine, monkeypatch):
        self.engine, self.log = engine, []
        event.listen(engine, "after_cursor_execute", self._statement)  # after psycopg's own BEGIN
        commanded = BoundedConnection._exec_command

        def command(connection, sql, *args, **kwargs):
            self.log.append(bytes(sql).decode().split()[0])
            return commanded(connection, sql, *args, **kwargs)

        monkeypatch.setattr(BoundedConnection, "_exec_command", command)

    def _statement(self, _connection, _cursor, statement: str, *_args) -> None:
        self.log.append(statement.split()[0])

    def sent(self) -> list[str]:
        """What was sent since the last look."""
        sent, self.log = self.log, []
        return sent

    def close(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._statement)


@pytest.fixture
def wire(app, monkeypatch):
    with app.test_request_context("/healthz"):
        db.session.connection()  # a new connection's settings, sent once
    db.session.remove()  # as every request begins: with no connection held
    watching = Wire(db.engine, monkeypatch)
    yield watching
    watching.close()


@pytest.fixture
def elsewhere(database_url):
    """Another connection's view of the database: what is committed, and which rows are locked."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def audit_events(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(AuditEvent))


def test_a_patients_read_sends_no_begin_or_commit_and_its_audit_row_is_committed_before_the_answer(
        client, make, wire, elsewhere):
    patient = make.patient()
    headers = make.headers(patient)
    before = audit_events(elsewhere)
    db.session.remove()
    wire.sent()

    answer = client.get("/api/v1/me/checkins?page_size=1", headers=headers)

    assert answer.status_code == 200
    assert wire.sent() == ["SELECT", "SELECT", "INSERT"]  # the token's session, the page, the audit row
    assert audit_events(elsewhere) == before + 1


def test_a_caseload_of_kept_figures_sends_no_begin_or_commit_and_one_recomputing_them_writes_in_a_transaction(
        client, make, wire, elsewhere):
    clinician = make.clinician()
    patient = make.patient(clinician)
    create_checkins(patient, {date(2026, 11, 20): {"craving": 3}})
    headers = make.headers(clinician)
    before = audit_events(elsewhere)
    db.session.remove()
    wire.sent()

    recomputing = client.get("/api/v1/caseload", headers=headers)
    first = wire.sent()
    db.session.remove()
    kept = client.get("/api/v1/caseload", headers=headers)
    second = wire.sent()

    assert recomputing.status_code == kept.status_code == 200
    assert recomputing.get_json()["items"] == kept.get_json()["items"]
    assert first.count("BEGIN") == 1 and first[-1] == "COMMIT"
    assert first.index("BEGIN") < min(first.index(word) for word in ("INSERT", "UPDATE") if word in first)
    assert "BEGIN" not in second and "COMMIT" not in second and second[-1] == "INSERT"
    assert audit_events(elsewhere) == before + 2


def test_a_read_requests_first_write_begins_a_transaction_that_a_rollback_undoes(app: Flask, wire, elsewhere):
    with app.test_request_context("/api/v1/me/checkins", method="GET"):
        db.session.execute(select(User.id).limit(1)).all()
        db.session.execute(insert(Organization).values(name="Written by a read"))
        db.session.rollback()
        db.session.remove()

    assert wire.sent() == ["SELECT", "BEGIN", "INSERT", "ROLLBACK"]
    with elsewhere.connect() as connection:
        assert connection.scalar(select(func.count()).where(Organization.name == "Written by a read")) == 0


def test_a_row_lock_taken_by_a_read_request_lasts_until_its_transaction_ends(app: Flask, make, wire, elsewhere):
    organization_id = make.organization().id
    db.session.remove()
    wire.sent()
    with app.test_request_context("/api/v1/caseload", method="GET"):
        db.session.execute(select(Organization.id).where(Organization.id == organization_id).with_for_update()).one()

        with elsewhere.connect() as connection, pytest.raises(Exception) as refused:
            connection.execute(text("SELECT id FROM organizations WHERE id = :id FOR UPDATE NOWAIT"),
                               {"id": organization_id})
        db.session.commit()
        db.session.remove()

    assert isinstance(refused.value.orig, psycopg.errors.LockNotAvailable)
    assert wire.sent()[:2] == ["BEGIN", "SELECT"]


def test_a_write_request_and_the_scheduler_still_begin_at_their_first_statement(app: Flask, wire):
    with app.test_request_context("/api/v1/me/checkins/2026-11-20", method="PUT"):
        db.session.execute(select(User.id).limit(1)).all()
        db.session.commit()
        db.session.remove()
    db.session.execute(select(User.id).limit(1)).all()  # no request: the scheduler's, the CLI's
    db.session.commit()

    assert wire.sent() == ["BEGIN", "SELECT", "COMMIT", "BEGIN", "SELECT", "COMMIT"]


def test_a_connection_goes_back_to_the_pool_as_the_pool_made_it(app: Flask, wire):
    with app.test_request_context("/api/v1/me/checkins", method="GET"):
        db.session.execute(select(User.id).limit(1)).all()
        db.session.remove()

    with db.engine.connect() as connection:
        assert connection.connection.dbapi_connection.autocommit is False
