"""No patient data in the application's logs: a whole scenario, every logger at DEBUG, then a scan.

The scan reads the records and the lines the app's own handler writes from
them, in both formats (text on a laptop, JSON in production).

SQLAlchemy's loggers stay where the app leaves them (WARNING): at INFO they
are SQL echo, which prints every bound parameter by design; that is a
setting never to turn on in production, not a leak in the code.
"""
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from flask_jwt_extended import jwt_required
from sqlalchemy import select, text
from werkzeug.serving import make_server

from api.logs import REQUEST_LOGGER, WithholdRequestDetails, log_format, make_handler
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


@pytest.fixture(params=["text", "json"])
def log_lines(request):
    """Write every record through the handler the app installs in a real process; return its lines."""
    output = io.StringIO()
    handler = make_handler(request.param, stream=output)
    logging.getLogger().addHandler(handler)
    yield request.param, lambda: output.getvalue().splitlines()
    logging.getLogger().removeHandler(handler)


def parsed(lines: list[str]) -> list[dict]:
    """Parse JSON lines, each a single object with the fields every line carries."""
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    return entries


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
                                                             every_logger_at_debug, log_lines):
    caplog = every_logger_at_debug
    log_format_name, written_lines = log_lines
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
    lines = written_lines()
    assert [(label, line) for line in lines for label, value in secrets.items()
            if value.lower() in line.lower()] == []

    # The scan saw what it is meant to see: both 500s, and the access log line.
    names = [record.name for record in caplog.records]
    assert names.count("waypoint.errors") == 2
    assert any(r.name == "werkzeug" and "?[withheld]" in r.getMessage() for r in caplog.records)
    # And the audit trail, the one place that names who touched whom, carries none of it either.
    trail = " ".join(repr((e.resource, e.detail, e.client_address)) for e in db.session.scalars(select(AuditEvent)))
    assert [label for label, value in secrets.items() if value.lower() in trail.lower()] == []

    if log_format_name == "json":
        entries = parsed(lines)
        requests = [entry for entry in entries if entry["logger"] == REQUEST_LOGGER]
        assert {"GET /api/v1/patients/<id:patient_id>/checkins", "PUT /api/v1/me/checkins/<day:day>",
                "POST /api/v1/auth/login"} <= {f"{entry['method']} {entry['route']}" for entry in requests}
        # The lines name routes by their rule: no patient's id, no query string; and no caller's address.
        assert [entry for entry in entries if re.search(r"/patients/\d|\?", json.dumps(entry))] == []
        assert [entry for entry in requests if "127.0.0.1" in json.dumps(entry)] == []
        errors = [entry for entry in entries if entry["logger"] == "waypoint.errors"]
        assert len(errors) == 2
        assert all(entry["route"].startswith("/api/v1/patients/<int:patient_id>/fail-") for entry in errors)
        assert all("(message withheld)" in entry["exception"] for entry in errors)
        failed = {entry["request_id"]: entry["status"] for entry in requests}
        assert [failed[entry["request_id"]] for entry in errors] == [500, 500]


def test_every_json_line_parses_and_names_its_request(app, client, make, caplog):
    caplog.set_level(logging.INFO)
    output = io.StringIO()
    handler = make_handler("json", stream=output)
    logging.getLogger().addHandler(handler)
    try:
        patient = make.patient()
        answer = client.get(f"/api/v1/patients/{patient.id}/checkins?note=private", headers=make.headers(patient))
        app.logger.warning("a line outside any request")
    finally:
        logging.getLogger().removeHandler(handler)

    entries = parsed(output.getvalue().splitlines())
    (line,) = [entry for entry in entries if entry["logger"] == REQUEST_LOGGER]
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/patients/<id:patient_id>/checkins"
    assert line["status"] == answer.status_code
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == answer.headers["X-Request-ID"]
    assert line["level"] == "INFO" and line["time"].endswith("Z")
    assert "private" not in output.getvalue() and f"/{patient.id}/" not in output.getvalue()
    (outside,) = [entry for entry in entries if entry["message"] == "a line outside any request"]
    assert outside["level"] == "WARNING" and "request_id" not in outside


def test_the_request_line_passes_the_request_loggers_filters_and_level_like_any_line(client, make, caplog):
    caplog.set_level(logging.INFO)
    patient = make.patient()
    request_logger = logging.getLogger(REQUEST_LOGGER)
    seen = []

    def drop_reads(record: logging.LogRecord) -> bool:
        seen.append(record)
        return " GET " not in f" {record.getMessage()} "

    request_logger.addFilter(drop_reads)
    try:
        client.get("/api/v1/me/checkins", headers=make.headers(patient))
        client.put("/api/v1/me/checkins/2026-01-01", json={}, headers=make.headers(patient))
        request_logger.setLevel(logging.WARNING)
        client.get("/api/v1/me/checkins", headers=make.headers(patient))
    finally:
        request_logger.removeFilter(drop_reads)
        request_logger.setLevel(logging.NOTSET)

    written = [record.getMessage() for record in caplog.records if record.name == REQUEST_LOGGER]
    assert [record.getMessage().split()[0] for record in seen] == ["GET", "PUT"]  # the third: below the level
    assert len(written) == 1 and written[0].startswith("PUT /api/v1/me/checkins/<day:day> 4")
    assert seen[0].funcName == "_log_request" and seen[0].levelname == "INFO"


@pytest.mark.parametrize(("forwarded", "kept"), [
    ("0b6d1f1c-5f4e-4a61-9a0c-2f1d3b7c9e11", True),
    ("7f3a9c0e1d2b4a5f8e6c7b9a0d1e2f3a", True),
    ("Zephyrine-Quillfeather-relapse", False),
    ("abc", False),
])
def test_a_proxy_request_id_is_kept_only_when_it_cannot_carry_words(client, forwarded, kept):
    answer = client.get("/healthz", headers={"X-Request-ID": forwarded})

    assert (answer.headers["X-Request-ID"] == forwarded) is kept
    assert re.fullmatch(r"[0-9A-Fa-f-]{16,64}", answer.headers["X-Request-ID"])


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, "text"),
    ({"WAYPOINT_ENV": "production"}, "json"),
    ({"WAYPOINT_ENV": "production", "LOG_FORMAT": "text"}, "text"),
    ({"LOG_FORMAT": "JSON"}, "json"),
])
def test_logs_are_json_in_production_unless_told_otherwise(environment, expected):
    assert log_format(environment) == expected


def test_an_unknown_log_format_stops_the_start():
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        log_format({"LOG_FORMAT": "xml"})


def test_the_servers_lines_about_a_request_leave_out_its_path_and_address():
    failed = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s",
                               (f"/api/v1/patients/7/checkins?email={EMAIL}",), None)
    invalid = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1,
                                f"Invalid request from ip=10.1.2.3: Invalid HTTP request line: 'GET /?n={NOTE}'",
                                None, None)
    throttled = logging.LogRecord("flask-limiter", logging.INFO, __file__, 1,
                                  "ratelimit %s (%s) exceeded at endpoint: %s",
                                  ("30 per 1 minute", "address:10.1.2.3", "auth.Login:login-address"), None)
    for record in (failed, invalid, throttled):
        WithholdRequestDetails().filter(record)
        assert EMAIL not in record.getMessage() and NOTE not in record.getMessage()
        assert "/patients/7" not in record.getMessage() and "10.1.2.3" not in record.getMessage()
    assert throttled.getMessage() == (
        "ratelimit 30 per 1 minute (address:[withheld]) exceeded at endpoint: auth.Login:login-address")


def test_gunicorn_config_keeps_the_app_out_of_the_master():
    """gunicorn.conf.py loads the log format without importing the app: workers fork from the master."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    check = ("import runpy, sys; settings = runpy.run_path('gunicorn.conf.py'); "
             "assert settings['logconfig_dict']['root']['handlers']; "
             "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('api', 'flask', 'models', 'services')); "
             "assert not leaked, leaked")
    result = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
