"""One error shape everywhere: application/problem+json, never HTML or a stack trace."""
import logging

import pytest
from sqlalchemy import func, select

from models import Checkin, Organization, db
from tests.factories import PASSWORD, checkin_body, problem


def assert_no_html(response) -> None:
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "<!doctype" not in text.lower()
    assert "Traceback" not in text


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/nowhere"), ("POST", "/api/v1/nowhere"), ("GET", "/nowhere"),
    ("GET", "/api/v1/patients/abc"), ("GET", "/api/v1/me/checkins/2026-11-23/extra"),
])
def test_an_unknown_route_is_a_404_problem(client, method, path):
    response = client.open(path, method=method)

    body = problem(response, 404)
    assert body["title"] == "Not Found"
    assert_no_html(response)


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/v1/me/checkins/2026-11-23", {"GET", "PUT"}),
    ("PATCH", "/api/v1/patients", {"GET", "POST"}),
    ("GET", "/api/v1/auth/login", {"POST"}),
    ("PUT", "/api/v1/me/checkins", {"GET"}),
])
def test_a_wrong_method_is_a_405_problem_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)

    problem(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]
    assert_no_html(response)


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/v1/me/checkins/2026-11-23"), ("POST", "/api/v1/me/checkins/sync"),
    ("POST", "/api/v1/auth/login"),
])
def test_a_body_over_the_limit_is_a_413_problem(client, app, auth, count, method, path):
    oversized = checkin_body(note="x" * app.config["MAX_CONTENT_LENGTH"])

    response = client.open(path, method=method, headers=auth, json=oversized)

    problem(response, 413)
    assert_no_html(response)
    assert count(Checkin) == 0


def test_a_body_just_under_the_limit_is_read(client, app, auth):
    padding = app.config["MAX_CONTENT_LENGTH"] - 200
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=auth,
                          json=checkin_body(note="x" * padding))

    assert "note" in problem(response, 422)["errors"]  # read, and refused for what it says


@pytest.mark.parametrize("data, content_type, status", [
    ("{not json", "application/json", 400), ('{"craving": 3', "application/json", 400),
    ("", "application/json", 422), ("craving=3", "application/x-www-form-urlencoded", 415),
    ("craving: 3", "text/plain", 415),
])
def test_a_body_that_is_not_json_is_a_problem(client, auth, count, data, content_type, status):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=auth,
                          data=data, content_type=content_type)

    body = problem(response, status)
    assert ("craving" if status == 422 else "json") in body["errors"]
    assert_no_html(response)
    assert count(Checkin) == 0


def test_validation_errors_are_a_422_problem_with_per_field_errors(client, auth):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json={"craving": 99})

    body = problem(response, 422)
    assert body["type"] == "https://waypoint.example/problems/validation-error"
    assert set(body["errors"]) == {"craving", "mood", "sleep_hours", "used_substance"}
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_a_missing_token_is_a_401_problem(client):
    response = client.get("/api/v1/me")

    problem(response, 401)
    assert_no_html(response)


def test_a_domain_refusal_is_a_problem_with_its_own_type(client, make, auth):
    client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json=checkin_body())

    response = client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json=checkin_body(mood=1))

    assert problem(response, 428)["type"] == "https://waypoint.example/problems/version-required"


@pytest.fixture
def failing_route(app):
    """A view that writes, then fails the way a bug would."""

    def explode():
        db.session.add(Organization(name="half-written"))
        db.session.flush()
        raise RuntimeError("password=hunter2 at /srv/waypoint/secret.py line 7")

    app.add_url_rule("/api/v1/explode", "explode", explode, methods=["GET", "POST"])


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unexpected_failure_is_a_bare_500_problem_and_saves_nothing(client, failing_route, caplog, method):
    with caplog.at_level(logging.ERROR, logger="waypoint.errors"):
        response = client.open("/api/v1/explode", method=method)

    body = problem(response, 500)
    text = response.get_data(as_text=True)
    assert "hunter2" not in text and "RuntimeError" not in text and "secret.py" not in text
    assert_no_html(response)
    assert body["detail"] == "Something went wrong on our side; nothing was saved."
    # What failed is for us, in the log; never for the caller.
    assert any(record.levelno == logging.ERROR and "RuntimeError" in record.getMessage()
               for record in caplog.records)
    db.session.rollback()
    with db.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Organization)
                                 .where(Organization.name == "half-written")) == 0


# A NUL byte is valid JSON but PostgreSQL text cannot hold it: it must be a 422, not a 500.
NUL = "before\u0000after"


@pytest.fixture
def staff(make):
    organization = make.organization()
    clinician = make.clinician(organization)
    return {"clinician": make.headers(clinician), "admin": make.headers(make.admin(organization)),
            "patient_id": make.patient(clinician).id}


@pytest.mark.parametrize("case", [
    "check-in note", "custom coping skill", "sync note", "enrolment name", "enrolment timezone",
    "login email", "login password", "registration email", "invite code", "level-of-care note",
    "program name", "coping skill label",
])
def test_a_nul_character_in_any_text_is_refused_not_a_server_error(client, make, auth, staff, case):
    patient_path = f"/api/v1/patients/{staff['patient_id']}"
    method, path, headers, body, field = {
        "check-in note": ("PUT", "/api/v1/me/checkins/2026-11-23", auth, checkin_body(note=NUL), "note"),
        "custom coping skill": ("PUT", "/api/v1/me/checkins/2026-11-23", auth,
                                checkin_body(custom_coping_skills=[NUL]), "custom_coping_skills"),
        "sync note": ("POST", "/api/v1/me/checkins/sync", auth,
                      {"checkins": [{"date": "2026-11-23", **checkin_body(note=NUL)}]}, None),
        "enrolment name": ("POST", "/api/v1/patients", staff["clinician"], {
            "email": "x@example.org", "display_name": NUL, "timezone": "UTC", "level_of_care": "iop"},
            "display_name"),
        "enrolment timezone": ("POST", "/api/v1/patients", staff["clinician"], {
            "email": "x@example.org", "display_name": "X", "timezone": NUL, "level_of_care": "iop"}, "timezone"),
        "login email": ("POST", "/api/v1/auth/login", {}, {"email": NUL, "password": PASSWORD}, "email"),
        "login password": ("POST", "/api/v1/auth/login", {}, {"email": "a@example.org", "password": NUL}, None),
        "registration email": ("POST", "/api/v1/auth/register", {}, {
            "invite_code": "ABCDEFGHJKMN", "email": NUL + "@example.org", "password": PASSWORD}, "email"),
        "invite code": ("POST", "/api/v1/auth/register", {}, {
            "invite_code": NUL * 8, "email": "a@example.org", "password": PASSWORD}, "invite_code"),
        "level-of-care note": ("POST", f"{patient_path}/level-of-care", staff["clinician"],
                               {"level_of_care": "php", "note": NUL}, "note"),
        "program name": ("POST", "/api/v1/programs", staff["admin"], {"name": NUL}, "name"),
        "coping skill label": ("POST", "/api/v1/coping-skills", staff["admin"],
                               {"code": "art_therapy", "label": NUL}, "label"),
    }[case]

    response = client.open(path, method=method, headers=headers, json=body)

    assert response.status_code < 500, response.get_data(as_text=True)
    if case == "sync note":
        assert response.json["results"][0]["status"] == 422
    elif case == "login password":
        problem(response, 401)
    else:
        assert field in problem(response, 422)["errors"]


@pytest.mark.parametrize("path", [
    "/api/v1/patients/99999999999999999999", "/api/v1/patients/99999999999999999999/checkins",
    "/api/v1/patients/2147483648/goals",
])
def test_an_id_too_large_for_the_database_is_a_404_not_an_overflow(client, make, path):
    response = client.get(path, headers=make.headers(make.clinician()))

    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_a_note_with_an_unpaired_surrogate_is_a_field_error_not_a_500(client, make):
    patient = make.patient()
    body = '{"craving": 1, "mood": 5, "sleep_hours": 7, "used_substance": false, "note": "\\ud800"}'

    response = client.put("/api/v1/me/checkins/2026-11-23", headers=make.headers(patient), data=body,
                          content_type="application/json")

    assert response.status_code == 422
    assert "note" in response.json["errors"]


@pytest.mark.parametrize("edge", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_a_day_at_the_calendars_edge_is_a_422_wherever_a_day_is_taken(client, make, edge):
    """Such a day once overflowed a week or window computed around it into a 500."""
    clinician = make.clinician()
    patient = make.patient(clinician)
    staff, own = make.headers(clinician), make.headers(patient)
    attempts = [
        client.get(f"/api/v1/me/goals?week={edge}", headers=own),
        client.get(f"/api/v1/me/checkins?from={edge}&to={edge}", headers=own),
        client.post(f"/api/v1/patients/{patient.id}/assessment-assignments", headers=staff,
                    json={"instrument": "phq9", "cadence_days": 7, "window_days": 3, "starts_on": edge}),
        client.post("/api/v1/patients", headers=staff, json={
            "email": "new@example.org", "display_name": "New", "timezone": "UTC",
            "level_of_care": "iop", "recovery_start_date": edge}),
    ]

    for response in attempts:
        body = problem(response, 422)
        assert "Use a year from 1900 to 9998." in str(body["errors"])
