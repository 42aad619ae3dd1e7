"""No patient data in the application's logs: a whole scenario, every logger at DEBUG, then a scan.

SQLAlchemy's loggers stay where the app leaves them (WARNING): at INFO they
are SQL echo, which prints every bound parameter by design; that is a
setting never to turn on in production, not a leak in the code.
"""
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from flask_jwt_extended import jwt_required
from sqlalchemy import select, text
from werkzeug.serving import make_server

from models import AuditEvent, db
from tests.factories import bearer, checkin_body

NAME = "Zephyrine Quillfeather"
EMAIL = "zephyrine.quill@example.org"
NOTE = "marmalade lighthouse relapse at dawn"
CUSTOM_SKILL = "juggling flaming pinecones"
PASSWORD = "Octarine-Walrus-8812!"
TODAY = "2026-11-23"


@pytest.fixture
def every_logger_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        if not name.startswith("sqlalchemy"):
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def failing_routes(app):
    """Two throwaway patient routes that fail with a 500 whose exception quotes the patient's note."""

    @jwt_required()
    def quote_in_message(patient_id):
        raise RuntimeError(f"could not store note {NOTE!r} for {EMAIL}")

    @jwt_required()
    def quote_in_sql(patient_id):
        # A database error's message carries the statement's parameters.
        db.session.execute(text("INSERT INTO no_such_table (note) VALUES (:note)"), {"note": NOTE})

    app.add_url_rule("/api/v1/patients/<int:patient_id>/fail-message", "test.fail_message",
                     quote_in_message, methods=["POST"])
    app.add_url_rule("/api/v1/patients/<int:patient_id>/fail-sql", "test.fail_sql", quote_in_sql, methods=["POST"])


def serve(app):
    """Run the app in werkzeug's own server (its access log included) on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


def fetch(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        error.close()
        return error.code


def test_a_whole_scenario_leaves_no_patient_data_in_the_logs(app, client, make, failing_routes,
                                                             every_logger_at_debug):
    caplog = every_logger_at_debug
    clinic = make.organization("Harbor Recovery")
    clinician = make.clinician(clinic)
    clinician_auth = make.headers(clinician)

    enrolled = client.post("/api/v1/patients", headers=clinician_auth, json={
        "email": EMAIL, "display_name": NAME, "timezone": "America/New_York", "level_of_care": "iop"})
    assert enrolled.status_code == 201, enrolled.json
    patient_id, invite_code = enrolled.json["patient"]["id"], enrolled.json["invite"]["code"]

    registered = client.post("/api/v1/auth/register", json={
        "invite_code": invite_code, "email": EMAIL, "password": PASSWORD})
    assert registered.status_code == 201, registered.json
    logged_in = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert logged_in.status_code == 200
    tokens = logged_in.json
    patient_auth = bearer(tokens["access_token"])

    written = client.put(f"/api/v1/me/checkins/{TODAY}", headers=patient_auth, json=checkin_body(
        note=NOTE, custom_coping_skills=[CUSTOM_SKILL], used_substance=True))
    assert written.status_code == 201, written.json
    assert client.get("/api/v1/me/checkins", headers=patient_auth).status_code == 200
    assert client.get("/api/v1/me/export?format=fhir", headers=patient_auth).status_code == 200

    for path in ("checkins", "dashboard", "trends"):
        assert client.get(f"/api/v1/patients/{patient_id}/{path}", headers=clinician_auth).status_code == 200
    assert client.get("/api/v1/caseload", headers=clinician_auth).status_code == 200

    # Failing requests: bad input quoting the note, a wrong password, a reused invite, 500s.
    bad = client.put(f"/api/v1/me/checkins/{TODAY}", headers=patient_auth,
                     json=checkin_body(note=NOTE, craving=NOTE, custom_coping_skills=[CUSTOM_SKILL]))
    assert bad.status_code in (412, 422, 428)
    assert client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD + "x"}).status_code == 401
    assert client.post("/api/v1/auth/register", json={
        "invite_code": invite_code, "email": EMAIL, "password": PASSWORD}).status_code >= 400
    assert client.post(f"/api/v1/patients/{patient_id}/fail-message", headers=clinician_auth).status_code == 500
    assert client.post(f"/api/v1/patients/{patient_id}/fail-sql", headers=clinician_auth).status_code == 500

    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(refreshed.json["access_token"])).status_code == 204

    # Through werkzeug's server: its access log would print the query string.
    server, thread = serve(app)
    try:
        query = urllib.parse.urlencode({"note": NOTE, "code": invite_code, "email": EMAIL})
        status = fetch(f"http://127.0.0.1:{server.server_port}/api/v1/patients/{patient_id}/checkins?{query}",
                       clinician_auth)
        assert status in (200, 422)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()

    secrets = {
        "name": NAME, "e-mail": EMAIL, "note": NOTE, "custom skill": CUSTOM_SKILL, "password": PASSWORD,
        "invite code": invite_code, "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"], "refreshed token": refreshed.json["access_token"],
    }
    secrets.update({f"{label} (url-encoded)": urllib.parse.quote_plus(value) for label, value in list(secrets.items())})
    formatter = logging.Formatter()
    leaks = []
    for record in caplog.records:
        texts = [record.getMessage(), repr(record.msg), repr(record.args), record.exc_text or "",
                 record.stack_info or ""]
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
        blob = "\n".join(texts).lower()
        leaks += [(record.name, label) for label, value in secrets.items() if value.lower() in blob]
    assert leaks == []

    # The scan saw what it is meant to see: both 500s, and the access log line.
    names = [record.name for record in caplog.records]
    assert names.count("waypoint.errors") == 2
    assert any(r.name == "werkzeug" and "?[withheld]" in r.getMessage() for r in caplog.records)
    # And the audit trail, the one place that names who touched whom, carries none of it either.
    trail = " ".join(repr((e.resource, e.detail, e.client_address)) for e in db.session.scalars(select(AuditEvent)))
    assert [label for label, value in secrets.items() if value.lower() in trail.lower()] == []
