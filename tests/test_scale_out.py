"""Two app processes, one PostgreSQL, one Redis: nothing in the app assumes it is alone.

Two gunicorn masters start with the shipped gunicorn.conf.py, one worker each,
so each port is one process, in production mode (JSON logs, a real secret).
Requests alternate between them the way a load balancer would send them: a
login limit, a check-in's version and a session's end must hold across both.

PostgreSQL only (SQLite is one machine's file). Without Redis the test is
skipped, except under CI=true, where that is a failure. Each run counts its
limits under a key prefix of its own and deletes those keys at the end.
"""
import json
import os
import secrets
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from models import db
from tests import gunicorn
from tests.factories import PASSWORD, bearer, checkin_body

REDIS_URL = os.environ.get("WAYPOINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOTE = "tidepool quartz relapse on the ferry"
LOGIN = "/api/v1/auth/login"


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        message = f"Redis is not reachable at {REDIS_URL} ({type(error).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return client


@pytest.fixture(scope="module")
def processes(database_url, _schema, tmp_path_factory):
    """Start two app processes on one database and one Redis; stop them whatever happens."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL: two processes on one SQLite file is not the production layout")
    redis_client = _redis_or_skip()
    prefix = f"waypoint-test-{uuid.uuid4().hex}"
    folder = tmp_path_factory.mktemp("scale-out")
    settings = gunicorn.environment(
        WAYPOINT_ENV="production", DATABASE_URL=database_url, REDIS_URL=REDIS_URL,
        JWT_SECRET_KEY=secrets.token_urlsafe(48), GUNICORN_THREADS="2", GUNICORN_ACCESS_LOG="-",
        OUTBOX_DIR=str(folder / "outbox"))
    # gunicorn passes literal arguments to the factory: this run's own limiter keys.
    app_spec = f"api:create_app({{'RATELIMIT_KEY_PREFIX': {prefix!r}}})"
    try:
        with gunicorn.running(settings, folder, ("A", "B"), app_spec) as started:
            yield started
    finally:
        try:
            keys = list(redis_client.scan_iter(match=f"{prefix}*"))
            if keys:
                redis_client.delete(*keys)
        finally:
            redis_client.close()


def _own_email(user, kind: str) -> str:
    """Give user an e-mail no other test of this run uses: login limits count per e-mail."""
    user.email = f"{kind}-{uuid.uuid4().hex[:12]}@example.org"
    db.session.commit()
    return user.email


def _login(process: gunicorn.Server, email: str, password: str = PASSWORD) -> gunicorn.Answer:
    return process.call("POST", LOGIN, {"email": email, "password": password})


def test_login_attempts_on_both_processes_count_together(processes, make):
    a, b = processes
    email = _own_email(make.clinician(), "throttled")
    other = _own_email(make.clinician(), "unthrottled")

    # LOGIN_LIMITS_PER_ACCOUNT is 5 a minute; alone, each process would allow 5 of its own.
    for attempt in range(5):
        assert _login(processes[attempt % 2], email, "not the password").status == 401
    refused = _login(b, email)  # the right password, the sixth attempt

    assert refused.status == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert _login(a, email).status == 429
    # The limit is the account's, not the processes'.
    assert _login(a, other).status == 200


def test_a_checkin_written_through_one_process_is_read_and_guarded_through_the_other(processes, make):
    a, b = processes
    patient = make.patient(timezone="America/New_York")
    email = _own_email(patient, "patient")
    token = _login(a, email).body["access_token"]
    # Yesterday in the patient's zone: valid whatever the hour, even across midnight.
    day = (datetime.now(ZoneInfo("America/New_York")) - timedelta(days=1)).date().isoformat()
    path = f"/api/v1/me/checkins/{day}"

    written = a.call("PUT", path, checkin_body(craving=6, note=NOTE), bearer(token))
    assert written.status == 201, written.body
    read = b.call("GET", path, headers=bearer(token))
    assert read.status == 200
    assert read.headers["ETag"] == written.headers["ETag"]
    assert read.body["craving"] == 6

    edited = b.call("PUT", path, checkin_body(craving=2, note=NOTE),
                    {**bearer(token), "If-Match": read.headers["ETag"]})
    assert edited.status == 200, edited.body
    assert edited.headers["ETag"] != written.headers["ETag"]
    stale = a.call("PUT", path, checkin_body(craving=9, note=NOTE),
                   {**bearer(token), "If-Match": written.headers["ETag"]})
    assert stale.status == 412, stale.body
    assert stale.headers["Content-Type"] == "application/problem+json"
    again = a.call("GET", path, headers=bearer(token))
    assert (again.headers["ETag"], again.body["craving"]) == (edited.headers["ETag"], 2)


def test_a_logout_through_one_process_ends_the_session_on_the_other(processes, make):
    a, b = processes
    email = _own_email(make.patient(), "patient")
    tokens = _login(a, email).body
    assert b.call("GET", "/api/v1/me", headers=bearer(tokens["access_token"])).status == 200

    assert a.call("POST", "/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status == 204

    assert b.call("GET", "/api/v1/me", headers=bearer(tokens["access_token"])).status == 401
    assert b.call("POST", "/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])).status == 401


def test_a_refresh_token_used_on_one_process_is_dead_on_the_other(processes, make):
    a, b = processes
    email = _own_email(make.patient(), "patient")
    tokens = _login(b, email).body
    rotated = a.call("POST", "/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert rotated.status == 200

    # Replaying the old refresh token elsewhere revokes the whole session, rotated tokens included.
    assert b.call("POST", "/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])).status == 401
    assert a.call("POST", "/api/v1/auth/refresh", headers=bearer(rotated.body["refresh_token"])).status == 401
    assert b.call("GET", "/api/v1/me", headers=bearer(rotated.body["access_token"])).status == 401


def test_both_processes_write_only_json_lines_without_patient_data(processes, make):
    clinician = make.clinician()
    patient = make.patient(clinician)
    email = _own_email(patient, "patient")
    clinician_email = _own_email(clinician, "clinician")
    for process in processes:
        patient_token = _login(process, email).body["access_token"]
        clinician_token = _login(process, clinician_email).body["access_token"]
        day = (datetime.now(ZoneInfo("America/New_York")) - timedelta(days=2)).date().isoformat()
        process.call("PUT", f"/api/v1/me/checkins/{day}", checkin_body(note=NOTE), bearer(patient_token))
        assert process.call("GET", f"/api/v1/patients/{patient.id}/checkins?note=tidepool&email={email}",
                            headers=bearer(clinician_token)).status == 200

    for process in processes:
        lines = process.log_lines()
        entries = [json.loads(line) for line in lines]  # every line, the master's included, is JSON
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
        assert {entry["logger"] for entry in entries} >= {"gunicorn.error", "gunicorn.access", "waypoint.requests"}
        assert len({entry["pid"] for entry in entries}) >= 2  # the master and its worker
        requests = [entry for entry in entries if entry["logger"] == "waypoint.requests"]
        assert all({"request_id", "method", "route", "status", "duration_ms"} <= entry.keys() for entry in requests)
        assert [entry["method"] for entry in requests
                if entry["route"] == "/api/v1/patients/<id:patient_id>/checkins"] == ["GET"]
        text = "\n".join(lines).lower()
        for value in (NOTE, "tidepool", email, clinician_email, f"/patients/{patient.id}/", "127.0.0.1 -"):
            assert value.lower() not in text, value
