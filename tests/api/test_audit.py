"""The audit trail: one event per touch of patient data, kept whatever the outcome; the admin's log."""
import logging
import threading
import time
from datetime import datetime, timezone

import pytest
from flask_jwt_extended import jwt_required
from sqlalchemy import select, text

from api.audit_plans import (
    AUDITED_ENDPOINTS,
    NOT_AUDITED_ENDPOINTS,
    PATIENT_DATA_PATHS,
    audit_plan,
    is_classified,
)
from models import AuditEvent, CopingSkill, Role, User, db
from services.audit import AuditEntry, append_audit_event
from tests.factories import PASSWORD, bearer, checkin_body, problem

TODAY = "2026-11-23"  # the frozen clock's day in New York


def events() -> list[AuditEvent]:
    """Return every audit event, oldest first, as the database holds them now."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def only_event() -> AuditEvent:
    rows = events()
    assert len(rows) == 1, [(e.resource, e.outcome, e.status_code) for e in rows]
    return rows[0]


def summary(event: AuditEvent) -> tuple:
    return (event.actor_id, event.actor_role, event.action, event.resource, event.patient_id,
            event.outcome, event.status_code)


@pytest.fixture
def clinic(make):
    return make.organization("Harbor Recovery")


@pytest.fixture
def clinician(make, clinic):
    return make.clinician(clinic)


@pytest.fixture
def admin(make, clinic):
    return make.admin(clinic)


@pytest.fixture
def tokens(make):
    """Authorization headers for a user, minted without a request (so without an event)."""
    return make.headers


# --- one event per request, for each kind of route ------------------------------

def test_a_patient_writing_a_check_in_leaves_one_write_event(client, patient, tokens, clinic):
    auth = tokens(patient)

    response = client.put(f"/api/v1/me/checkins/{TODAY}", headers=auth, json=checkin_body(note="rough night"))

    assert response.status_code == 201
    event = only_event()
    assert summary(event) == (patient.id, "patient", "write", "checkins.MyCheckinDay", patient.id, "allowed", 201)
    assert event.organization_id == clinic.id
    assert event.client_address == "127.0.0.1"
    assert event.occurred_at == datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)
    assert event.detail == {"method": "PUT", "day": TODAY}


def test_a_patient_reading_their_check_ins_leaves_one_read_event(client, patient, tokens):
    auth = tokens(patient)

    response = client.get("/api/v1/me/checkins?page=1", headers=auth)

    assert response.status_code == 200
    event = only_event()
    assert summary(event) == (patient.id, "patient", "read", "checkins.MyCheckins", patient.id, "allowed", 200)
    assert event.detail == {"method": "GET", "page": "1"}


def test_a_clinician_reading_a_patient_leaves_a_read_event_naming_the_patient(client, clinician, patient, tokens):
    auth = tokens(clinician)

    response = client.get(f"/api/v1/patients/{patient.id}/checkins?date_from=2026-11-01&page=2", headers=auth)

    assert response.status_code == 200
    event = only_event()
    assert summary(event) == (clinician.id, "clinician", "read", "checkins.PatientCheckins", patient.id,
                              "allowed", 200)
    # Page numbers are kept; every other query value stays out of the trail.
    assert event.detail == {"method": "GET", "page": "2"}


def test_the_caseload_leaves_one_event_with_the_count_and_the_ids_shown(client, make, clinician, patient, tokens):
    second = make.patient(clinician)
    auth = tokens(clinician)

    response = client.get("/api/v1/caseload", headers=auth)

    assert response.status_code == 200
    event = only_event()
    assert summary(event) == (clinician.id, "clinician", "read", "dashboards.Caseload", None, "allowed", 200)
    assert event.detail == {"method": "GET", "count": 2, "patient_ids": sorted([patient.id, second.id])}


def test_a_list_showing_one_patient_names_them_in_the_row(client, clinician, patient, tokens):
    response = client.get("/api/v1/caseload", headers=tokens(clinician))

    assert response.status_code == 200
    assert only_event().patient_id == patient.id


def test_enrolling_a_patient_names_the_new_patient(client, admin, tokens):
    response = client.post("/api/v1/patients", headers=tokens(admin), json={
        "email": "new.patient@example.org", "display_name": "New Patient",
        "timezone": "America/New_York", "level_of_care": "iop"})

    assert response.status_code == 201
    new_id = response.json["patient"]["id"]
    event = only_event()
    assert summary(event) == (admin.id, "admin", "write", "patients.Patients", new_id, "allowed", 201)
    assert "invite" not in str(event.detail)


def test_an_admin_reading_the_audit_log_is_itself_recorded(client, admin, tokens):
    response = client.get("/api/v1/audit-log", headers=tokens(admin))

    assert response.status_code == 200
    assert response.json["items"] == []  # the read is recorded after it is answered
    event = only_event()
    assert summary(event) == (admin.id, "admin", "read", "audit.AuditLog", None, "allowed", 200)
    assert event.detail == {"method": "GET", "count": 0}


def test_the_patient_export_is_recorded_as_an_export(client, patient, tokens):
    response = client.get("/api/v1/me/export?format=csv", headers=tokens(patient))

    assert response.status_code == 200
    event = only_event()
    assert (event.action, event.patient_id, event.outcome) == ("export", patient.id, "allowed")
    assert event.detail == {"method": "GET", "format": "csv"}


def test_routes_that_touch_no_patient_data_leave_no_event(client, clinician, tokens):
    auth = tokens(clinician)

    assert client.get("/api/v1/catalogue", headers=auth).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.options("/api/v1/me/checkins").status_code == 200

    assert events() == []


# --- refused attempts ---------------------------------------------------------

def test_a_clinician_off_the_care_team_leaves_a_denied_event_naming_the_patient(client, make, clinic, patient, tokens):
    outsider = make.clinician(clinic)

    response = client.get(f"/api/v1/patients/{patient.id}/checkins", headers=tokens(outsider))

    problem(response, 404)
    event = only_event()
    assert summary(event) == (outsider.id, "clinician", "read", "checkins.PatientCheckins", patient.id,
                              "denied", 404)
    assert event.organization_id == clinic.id
    assert event.detail == {"method": "GET", "requested_patient_id": patient.id}


def test_a_clinician_of_another_organization_is_recorded_in_their_own_organization(client, make, patient, tokens):
    elsewhere = make.clinician(make.organization("Elsewhere"))

    response = client.get(f"/api/v1/patients/{patient.id}/trends", headers=tokens(elsewhere))

    problem(response, 404)
    event = only_event()
    # The row never names another organization's patient; the id tried is kept.
    assert (event.organization_id, event.actor_id, event.patient_id, event.outcome) == (
        elsewhere.organization_id, elsewhere.id, None, "denied")
    assert event.detail["requested_patient_id"] == patient.id


def test_an_id_that_is_no_patient_is_recorded_as_tried(client, clinician, tokens):
    response = client.get("/api/v1/patients/999999/checkins", headers=tokens(clinician))

    problem(response, 404)
    event = only_event()
    assert (event.patient_id, event.outcome, event.detail["requested_patient_id"]) == (None, "denied", 999999)


def test_an_anonymous_attempt_on_a_patient_lands_in_the_patients_organization(client, patient, clinic):
    response = client.get(f"/api/v1/patients/{patient.id}/checkins")

    problem(response, 401)
    event = only_event()
    assert summary(event) == (None, None, "read", "checkins.PatientCheckins", patient.id, "denied", 401)
    assert event.organization_id == clinic.id


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Basic abc"}])
def test_an_anonymous_or_forged_attempt_on_me_is_denied_with_no_actor(client, patient, tokens, headers):
    # An earlier request in the same test must not lend the anonymous one its actor.
    client.get("/api/v1/me", headers=tokens(patient))

    response = client.get("/api/v1/me/checkins", headers=headers)

    problem(response, 401)
    event = events()[-1]
    assert summary(event) == (None, None, "read", "checkins.MyCheckins", None, "denied", 401)
    assert event.organization_id is None


def test_a_role_refusal_is_denied_and_a_domain_refusal_failed(client, patient, clinician, tokens):
    client.get("/api/v1/caseload", headers=tokens(patient))
    client.put(f"/api/v1/me/checkins/{TODAY}", headers=tokens(patient), json=checkin_body(craving=99))

    refused, invalid = events()
    assert (refused.outcome, refused.status_code, refused.actor_id) == ("denied", 403, patient.id)
    assert (invalid.outcome, invalid.status_code, invalid.patient_id) == ("failed", 422, patient.id)


# --- kept when the request fails -------------------------------------------------

@pytest.fixture
def exploding_route(app):
    """A patient route that writes, locks the patient's row, then fails: a 500."""

    @jwt_required()
    def explode(patient_id):
        db.session.add(CopingSkill(organization_id=db.session.get(User, patient_id).organization_id,
                                   code="half_written", label="Never committed"))
        db.session.flush()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": patient_id})
        raise RuntimeError("boom")

    app.add_url_rule("/api/v1/patients/<int:patient_id>/explode", "test.explode", explode, methods=["POST"])


def test_the_event_survives_a_request_that_failed_with_a_500(client, exploding_route, clinician, patient, tokens,
                                                            count):
    response = client.post(f"/api/v1/patients/{patient.id}/explode", headers=tokens(clinician))

    problem(response, 500)
    event = only_event()
    assert summary(event) == (clinician.id, "clinician", "write", "test.explode", patient.id, "failed", 500)
    assert count(CopingSkill, CopingSkill.code == "half_written") == 0


def test_an_exception_escaping_the_response_is_recorded_at_teardown(app, client, patient, tokens):
    @app.after_request
    def broken_hook(response):  # runs before the audit hook, which then never sees the response
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError):
        client.get("/api/v1/me/checkins", headers=tokens(patient))

    event = only_event()
    assert (event.actor_id, event.patient_id, event.outcome, event.status_code) == (patient.id, patient.id,
                                                                                    "failed", 500)


def test_an_audit_write_that_fails_is_reported_without_data_and_the_answer_stands(
        client, patient, tokens, monkeypatch, caplog):
    def unavailable(_entry):
        raise RuntimeError(f"database down while storing {patient.email}")

    # A read's event rides in its own transaction (stage); the rest in one of their own (append).
    monkeypatch.setattr("api.audit.append_audit_event", unavailable)
    monkeypatch.setattr("api.audit.stage_audit_event", unavailable)

    response = client.get("/api/v1/me/checkins", headers=tokens(patient))

    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "waypoint.audit"]
    assert record.levelno == logging.ERROR
    assert patient.email not in record.getMessage() and record.exc_info is None


# --- cost and isolation ---------------------------------------------------------

def test_recording_costs_one_insert_and_nothing_else(client, clinician, patient, tokens, monkeypatch):
    auth = tokens(clinician)
    path = f"/api/v1/patients/{patient.id}/checkins"
    client.get(path, headers=auth)  # the same warm session for both requests measured

    audited = _statements_of(client, auth, path)
    monkeypatch.setattr("api.audit.append_audit_event", lambda _entry: None)
    monkeypatch.setattr("api.audit.stage_audit_event", lambda _entry: None)
    unaudited = _statements_of(client, auth, path)

    assert len(audited) == len(unaudited) + 1
    [insert] = [s for s in audited if "audit_events" in s]
    assert insert.lstrip().upper().startswith("INSERT")
    # Nothing reads the new row's id: PostgreSQL is not asked to send it back.
    assert "RETURNING" not in insert.upper()


def _statements_of(client, auth, path) -> list[str]:
    from sqlalchemy import event as sa_event

    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", before)
    try:
        client.get(path, headers=auth)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", before)
    return statements


def test_reads_and_writes_at_once_are_all_recorded(app, make, clinician, caplog):
    """Reads hold no process lock; their INSERT waits its turn on SQLite's busy timeout, never fails."""
    patients = [make.patient(clinician) for _ in range(4)]
    patient_auth = [make.headers(p) for p in patients]
    clinician_auth = make.headers(clinician)
    barrier = threading.Barrier(8)
    statuses, failures = [], []

    def run(request):
        try:
            with app.app_context():
                client = app.test_client()
                barrier.wait(timeout=30)
                for _ in range(3):
                    statuses.append(request(client).status_code)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            with app.app_context():
                db.session.remove()

    requests = (
        [lambda c, a=a: c.put(f"/api/v1/me/checkins/{TODAY}", headers=a, json=checkin_body())
         for a in patient_auth]
        + [lambda c, path=f"/api/v1/patients/{p.id}/checkins": c.get(path, headers=clinician_auth)
           for p in patients]
    )
    threads = [threading.Thread(target=run, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    assert len(statuses) == 24 and set(statuses) <= {200, 201}, statuses
    assert len(events()) == 24
    assert not [r for r in caplog.records if r.name == "waypoint.audit"]


def test_a_read_waits_for_another_writer_on_sqlite_and_is_recorded(app, client, dialect, clinician, patient, tokens):
    if dialect != "sqlite":
        pytest.skip("SQLite's file lock")
    auth = tokens(clinician)
    engine = db.engine
    holding, releasing = threading.Event(), threading.Event()

    def hold_the_write_lock():
        with engine.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            holding.set()
            time.sleep(0.5)
            releasing.set()
            connection.exec_driver_sql("COMMIT")

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert holding.wait(timeout=10)
    response = client.get(f"/api/v1/patients/{patient.id}/checkins", headers=auth)
    answered_after_release = releasing.is_set()
    holder.join(timeout=30)

    assert response.status_code == 200
    assert answered_after_release  # the INSERT waited for the other writer, then went in
    assert only_event().outcome == "allowed"


# --- sign-in -----------------------------------------------------------------------

def test_a_login_is_recorded_with_its_account(client, clinician):
    response = client.post("/api/v1/auth/login", json={"email": clinician.email, "password": PASSWORD})

    assert response.status_code == 200
    event = only_event()
    assert summary(event) == (clinician.id, "clinician", "login", "auth.Login", None, "allowed", 200)
    assert event.organization_id == clinician.organization_id


def test_a_failed_login_names_the_account_tried_never_the_password(client, clinician):
    client.post("/api/v1/auth/login", json={"email": clinician.email.upper(), "password": "wrong-password-1"})
    client.post("/api/v1/auth/login", json={"email": "nobody@example.org", "password": "wrong-password-2"})

    known, unknown = events()
    assert summary(known) == (clinician.id, "clinician", "login", "auth.Login", None, "denied", 401)
    assert summary(unknown) == (None, None, "login", "auth.Login", None, "denied", 401)
    for event in (known, unknown):
        assert event.detail == {"method": "POST"}


def test_registering_and_refreshing_are_recorded(client, make, clinician):
    from services.accounts import enrol_patient

    profile, invite = enrol_patient(clinician, {"email": "reg@example.org", "display_name": "Reg",
                                                "timezone": "America/New_York", "level_of_care": "iop"},
                                    make.clock())
    db.session.commit()
    patient_id = profile.user_id

    registered = client.post("/api/v1/auth/register", json={
        "invite_code": invite.code, "email": "reg@example.org", "password": "a long new password"})
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(registered.json["refresh_token"]))
    reused = client.post("/api/v1/auth/refresh", headers=bearer(registered.json["refresh_token"]))

    assert (registered.status_code, refreshed.status_code, reused.status_code) == (201, 200, 401)
    register, refresh, refused = events()
    assert summary(register) == (patient_id, "patient", "register", "auth.Register", patient_id, "allowed", 201)
    assert summary(refresh) == (patient_id, "patient", "refresh", "auth.Refresh", None, "allowed", 200)
    assert (refused.action, refused.outcome, refused.actor_id) == ("refresh", "denied", patient_id)


def test_an_admin_disabling_accounts_is_recorded_with_the_account(client, admin, clinician, patient, tokens):
    auth = tokens(admin)

    assert client.post(f"/api/v1/users/{patient.id}/disable", headers=auth).status_code == 204
    assert client.post(f"/api/v1/users/{clinician.id}/disable", headers=auth).status_code == 204

    on_patient, on_clinician = events()
    assert summary(on_patient) == (admin.id, "admin", "disable_account", "auth.UserDisable", patient.id,
                                   "allowed", 204)
    assert on_patient.detail == {"method": "POST", "user_id": patient.id}
    assert (on_clinician.patient_id, on_clinician.detail["user_id"]) == (None, clinician.id)


def test_a_password_change_is_recorded_without_either_password(client, patient, tokens):
    response = client.post("/api/v1/me/password", headers=tokens(patient), json={
        "current_password": PASSWORD, "new_password": "an entirely new passphrase"})

    assert response.status_code == 200
    event = only_event()
    assert summary(event) == (patient.id, "patient", "password_change", "auth.MyPassword", patient.id,
                              "allowed", 200)
    assert event.detail == {"method": "POST"}


# --- where the request came from ---------------------------------------------------

def test_a_forwarded_address_counts_only_behind_a_configured_proxy(app, client, patient, tokens):
    auth = {**tokens(patient), "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}

    client.get("/api/v1/me/checkins", headers=auth)
    app.config["TRUSTED_PROXY_HOPS"] = 1
    client.get("/api/v1/me/checkins", headers=auth)
    app.config["TRUSTED_PROXY_HOPS"] = 2
    client.get("/api/v1/me/checkins", headers=auth)

    assert [e.client_address for e in events()] == ["127.0.0.1", "198.51.100.7", "203.0.113.9"]


# --- every route is classified ----------------------------------------------------

def test_every_route_is_classified_as_audited_or_not(app):
    unclassified = sorted(f"{rule.endpoint} {rule.rule}" for rule in app.url_map.iter_rules()
                          if not is_classified(rule))

    assert unclassified == [], (
        "Classify each new route in api/audit_plans.py: under PATIENT_DATA_PATHS, in AUDITED_ENDPOINTS, "
        "or in NOT_AUDITED_ENDPOINTS with the reason")


def test_the_classification_names_only_routes_that_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}

    assert set(AUDITED_ENDPOINTS) - endpoints == set()
    assert set(NOT_AUDITED_ENDPOINTS) - endpoints == set()
    assert set(AUDITED_ENDPOINTS) & set(NOT_AUDITED_ENDPOINTS) == set()


def test_no_route_under_a_patient_path_is_left_out(app):
    for rule in app.url_map.iter_rules():
        if any(rule.rule == p or rule.rule.startswith(p + "/") for p in PATIENT_DATA_PATHS):
            assert audit_plan(rule) is not None, rule.endpoint


def test_an_unclassified_route_fails_the_check_but_is_still_recorded(app, client, clinician, tokens):
    app.add_url_rule("/api/v1/brand-new", "test.brand_new", lambda: {"ok": True})
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "test.brand_new")

    assert not is_classified(rule)
    client.get("/api/v1/brand-new", headers=tokens(clinician))
    assert only_event().resource == "test.brand_new"


def test_the_audit_log_has_no_route_to_change_or_remove_an_event(app):
    methods = {method for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/audit-log")
               for method in rule.methods}

    assert methods == {"GET", "HEAD", "OPTIONS"}


# --- GET /api/v1/audit-log -----------------------------------------------------------

def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def seed(actor: User, *, occurred_at: str, action: str = "read", outcome: str = "allowed",
         patient: User | None = None, resource: str = "checkins.PatientCheckins") -> None:
    append_audit_event(AuditEntry(
        occurred_at=at(occurred_at), action=action, resource=resource, outcome=outcome,
        status_code=200 if outcome == "allowed" else 404, actor_id=actor.id,
        patient_id=patient.id if patient else None, detail={"method": "GET"}))


@pytest.fixture
def trail(make, clinic, clinician, patient):
    """Five events in the clinic over three days, and one in another organization."""
    other_patient = make.patient(clinician)
    seed(clinician, occurred_at="2026-11-20T09:00:00+00:00", patient=patient)
    seed(clinician, occurred_at="2026-11-21T09:00:00+00:00", patient=other_patient, action="write")
    seed(patient, occurred_at="2026-11-21T23:59:59+00:00", patient=patient, resource="checkins.MyCheckins")
    seed(clinician, occurred_at="2026-11-22T08:00:00+00:00", patient=patient, outcome="denied")
    seed(clinician, occurred_at="2026-11-22T10:00:00+00:00", resource="dashboards.Caseload")
    stranger = make.clinician(make.organization("Elsewhere"))
    seed(stranger, occurred_at="2026-11-22T11:00:00+00:00")
    return {"other_patient": other_patient, "stranger": stranger}


def log_page(client, headers, **query) -> dict:
    response = client.get("/api/v1/audit-log", headers=headers, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def times(page: dict) -> list[str]:
    return [item["occurred_at"][:19] for item in page["items"]]


def test_the_log_lists_the_organizations_events_newest_first(client, admin, tokens, trail, clinician, patient):
    page = log_page(client, tokens(admin))

    assert page["total"] == 5
    assert times(page) == ["2026-11-22T10:00:00", "2026-11-22T08:00:00", "2026-11-21T23:59:59",
                           "2026-11-21T09:00:00", "2026-11-20T09:00:00"]
    newest = page["items"][0]
    assert newest["actor_id"] == clinician.id and newest["actor_role"] == "clinician"
    assert set(newest) == {"id", "occurred_at", "actor_id", "actor_role", "action", "resource", "patient_id",
                           "outcome", "status_code", "client_address", "detail"}


def test_the_log_never_shows_another_organizations_events(client, make, tokens, trail):
    other_admin = make.admin(make.organization("Elsewhere"))

    page = log_page(client, tokens(other_admin))

    assert [item["actor_id"] for item in page["items"]] == [trail["stranger"].id]
    assert page["total"] == 1


def test_the_log_paginates(client, admin, tokens, trail):
    auth = tokens(admin)

    pages = [log_page(client, auth, page_size=2, page=n, action="read", outcome="allowed",
                      to="2026-11-22T23:00:00Z") for n in (1, 2, 3)]

    assert [p["total"] for p in pages] == [3, 3, 3]
    assert [times(p) for p in pages] == [["2026-11-22T10:00:00", "2026-11-21T23:59:59"],
                                         ["2026-11-20T09:00:00"], []]


@pytest.mark.parametrize("query, expected", [
    ({"action": "write"}, ["2026-11-21T09:00:00"]),
    ({"outcome": "denied"}, ["2026-11-22T08:00:00"]),
    ({"from": "2026-11-21", "to": "2026-11-21"}, ["2026-11-21T23:59:59", "2026-11-21T09:00:00"]),
    ({"from": "2026-11-21T10:00:00Z", "to": "2026-11-22T08:00:00+00:00"},
     ["2026-11-22T08:00:00", "2026-11-21T23:59:59"]),
    ({"from": "2026-11-22T03:00:00-05:00"}, ["2026-11-22T10:00:00", "2026-11-22T08:00:00"]),
    ({"to": "2026-11-20"}, ["2026-11-20T09:00:00"]),
])
def test_the_log_filters(client, admin, tokens, trail, query, expected):
    assert times(log_page(client, tokens(admin), **query)) == expected


def test_the_log_filters_by_actor_and_patient(client, admin, tokens, trail, clinician, patient):
    auth = tokens(admin)

    by_patient = log_page(client, auth, patient_id=patient.id)
    by_actor = log_page(client, auth, actor_id=patient.id)
    both = log_page(client, auth, actor_id=clinician.id, patient_id=patient.id)

    assert times(by_patient) == ["2026-11-22T08:00:00", "2026-11-21T23:59:59", "2026-11-20T09:00:00"]
    assert times(by_actor) == ["2026-11-21T23:59:59"]
    assert times(both) == ["2026-11-22T08:00:00", "2026-11-20T09:00:00"]


@pytest.mark.parametrize("query, field", [
    ({"outcome": "maybe"}, "outcome"), ({"from": "yesterday"}, "from"), ({"to": "2026-11-22T10:00"}, "to"),
    ({"from": "2026-11-23", "to": "2026-11-22"}, "to"), ({"actor_id": "x"}, "actor_id"),
    ({"page_size": "500"}, "page_size"),
])
def test_bad_filters_are_refused_field_by_field(client, admin, tokens, query, field):
    response = client.get("/api/v1/audit-log", headers=tokens(admin), query_string=query)

    assert field in problem(response, 422)["errors"]


@pytest.mark.parametrize("role", [Role.clinician, Role.patient])
def test_only_admins_read_the_log_and_the_refusal_is_recorded(client, make, clinician, patient, tokens, role):
    caller = clinician if role is Role.clinician else patient

    problem(client.get("/api/v1/audit-log", headers=tokens(caller)), 403)
    problem(client.get("/api/v1/audit-log"), 401)

    refused, anonymous = events()
    assert summary(refused) == (caller.id, role.value, "read", "audit.AuditLog", None, "denied", 403)
    assert (anonymous.actor_id, anonymous.outcome) == (None, "denied")


@pytest.mark.parametrize("query", [
    "to=9999-12-31", "from=9999-12-31&to=9999-12-31", "from=0001-01-01&to=0001-01-01",
    "to=9999-12-31T23:59:59Z", "from=0001-01-01T00:00:00Z",
])
def test_the_calendars_edges_are_answered_not_overflowed(client, admin, tokens, query):
    response = client.get(f"/api/v1/audit-log?{query}", headers=tokens(admin))

    assert response.status_code in (200, 422), response.json
    assert response.content_type == "application/problem+json" or response.json["items"] == []
