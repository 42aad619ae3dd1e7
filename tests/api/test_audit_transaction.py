"""A read's audit event rides in the read's own transaction, never in one that wrote something to undo."""
import sqlite3
import threading
from datetime import date

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from api.audit import _session_ends_with_request
from api.database import transaction_wrote
from models import AuditEvent, CopingSkill, User, db
from services.audit import stage_audit_event
from tests.factories import bearer, create_checkins, login


def test_a_transaction_that_only_read_has_nothing_to_undo(app, patient):
    session = db.session()
    session.rollback()
    assert not transaction_wrote(session)
    session.scalars(select(User)).all()
    assert not transaction_wrote(session)


def test_pending_changes_a_write_or_a_failed_statement_count_as_something_to_undo(app, patient, organization):
    session = db.session()
    session.rollback()
    session.add(CopingSkill(organization_id=organization.id, code="walk-test", label="A walk"))
    assert transaction_wrote(session)
    session.rollback()

    session.execute(text("UPDATE users SET display_name = display_name WHERE id = :id"), {"id": patient.id})
    assert transaction_wrote(session)
    session.rollback()
    assert not transaction_wrote(session)  # a new transaction starts clean

    with pytest.raises(DBAPIError):
        session.execute(text("SELECT no_such_column FROM users"))
    assert transaction_wrote(session)
    session.rollback()


def test_a_refused_write_is_undone_while_its_event_is_kept(client, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))

    refused = client.put("/api/v1/me/checkins/2026-11-23", headers={**headers, "If-Match": '"999"'},
                         json={"craving": 3})

    assert refused.status_code >= 400
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == before + 1
    assert db.session.execute(text("SELECT count(*) FROM checkins")).scalar() == 0


def test_a_read_leaves_no_unexpired_rows_in_a_session_that_outlives_it(client, patient):
    # A test, unlike a served request, holds one app context (one session) across
    # requests: the read's audit commit must still expire what the read loaded,
    # or the next request would see these rows as they were.
    headers = bearer(login(client, patient.email).json["access_token"])
    caller = db.session.get(User, patient.id)
    assert caller.display_name  # loaded before the read, which finds it in the session
    assert client.get("/api/v1/me/checkins?page_size=1", headers=headers).status_code == 200

    assert "display_name" in inspect(caller).expired_attributes


def test_only_a_request_that_pushed_its_own_app_context_ends_its_session(app):
    seen = []

    def served():  # as a server hands it over: no app context before the request
        with app.test_request_context("/api/v1/me/checkins"):
            seen.append(_session_ends_with_request())

    thread = threading.Thread(target=served)
    thread.start()
    thread.join()
    with app.test_request_context("/api/v1/me/checkins"):  # inside the test's app context
        seen.append(_session_ends_with_request())

    assert seen == [True, False]


def test_on_sqlite_a_reads_audit_row_is_one_statement_that_commits_itself(client, patient, database_url,
                                                                         driver_statements):
    # No BEGIN before it and no COMMIT after it: the INSERT takes the write
    # lock, commits with its fsync and lets go inside one call of the driver.
    headers = bearer(login(client, patient.email).json["access_token"])
    driver_statements.clear()

    assert client.get("/api/v1/me/checkins?page_size=1", headers=headers).status_code == 200

    words = [statement.split()[0].upper() for statement in driver_statements]
    assert words.count("INSERT") == 1
    assert "BEGIN" not in words and "COMMIT" not in words
    # Committed when the answer left: another connection, another process's, sees it.
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as elsewhere:
        newest = elsewhere.execute("SELECT resource, actor_id FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
    assert newest == ("checkins.MyCheckins", patient.id)


def test_on_sqlite_a_write_after_such_a_read_still_takes_the_write_lock_first(client, patient, driver_statements):
    # The driver's own transactions come back once the audit row is in: on
    # the same pooled connection, the next write request takes the write lock
    # with BEGIN IMMEDIATE before it reads anything but its token (the
    # check-in PUT checks that first: api.database.writes_after_checks).
    headers = bearer(login(client, patient.email).json["access_token"])
    assert client.get("/api/v1/me/checkins?page_size=1", headers=headers).status_code == 200
    driver_statements.clear()

    day = {"craving": 3, "mood": 6, "sleep_hours": 7.5, "sleep_quality": 4, "used_substance": False,
           "self_harm_thoughts": False}
    written = client.put("/api/v1/me/checkins/2026-11-23", headers=headers, json=day)
    assert written.status_code == 201, written.json

    statements = [statement for statement in driver_statements if not statement.startswith("PRAGMA")]
    begun = statements.index("BEGIN IMMEDIATE")
    assert [statement.split()[0] for statement in statements[:begun]] == ["SELECT"]  # the token's session
    assert statements[-1] == "COMMIT"


def test_on_sqlite_a_caseload_of_kept_figures_writes_its_audit_row_as_one_statement_that_commits_itself(
        client, make, database_url, driver_statements):
    # As the floor's: the caseload's own work (figures recomputed and kept)
    # commits with its audit row in one transaction; once every row is kept,
    # there is nothing of its own to commit, and the row goes in alone.
    clinician = make.clinician()
    create_checkins(make.patient(clinician), {date(2026, 11, 20): {"craving": 3}})
    headers = make.headers(clinician)
    driver_statements.clear()

    recomputing = client.get("/api/v1/caseload", headers=headers)
    first = [statement.split()[0].upper() for statement in driver_statements]
    driver_statements.clear()
    kept = client.get("/api/v1/caseload", headers=headers)
    second = [statement.split()[0].upper() for statement in driver_statements]

    assert recomputing.status_code == kept.status_code == 200
    assert recomputing.get_json()["items"] == kept.get_json()["items"]
    assert first.count("BEGIN") == 1 and first[-1] == "COMMIT" and "INSERT" in first
    assert "BEGIN" not in second and "COMMIT" not in second and second.count("INSERT") == 1
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as elsewhere:
        newest = elsewhere.execute("SELECT resource, actor_id FROM audit_events ORDER BY id DESC LIMIT 2").fetchall()
    assert newest == [("dashboards.Caseload", clinician.id)] * 2


def test_a_caseload_whose_audit_row_fails_to_go_in_alone_has_it_written_anew_before_the_answer(
        client, make, monkeypatch):
    # As any read's: the first try is rolled back, after_request writes the
    # event anew, and the answer stands.
    clinician = make.clinician()
    create_checkins(make.patient(clinician), {date(2026, 11, 20): {"craving": 3}})
    headers = make.headers(clinician)
    assert client.get("/api/v1/caseload", headers=headers).status_code == 200  # the figures kept
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    db.session.remove()
    tries = []

    def dropped_once(entry, connection=None):
        tries.append(entry.resource)
        if len(tries) == 1:
            raise OperationalError("INSERT INTO audit_events", None, Exception("the link dropped"))
        return stage_audit_event(entry, connection)

    monkeypatch.setattr("api.audit.stage_audit_event", dropped_once)

    answer = client.get("/api/v1/caseload", headers=headers)

    assert answer.status_code == 200
    assert tries == ["dashboards.Caseload"] * 2  # the view's try, then after_request's
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1
