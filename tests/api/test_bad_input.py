"""Bad input never gives a 500: bodies no parser should read, numbers past a double's range,
codes with a trailing newline, ids at the edges of a 32-bit integer."""
import json
import re

import pytest
from sqlalchemy import select

from models import AttendanceRecord, AuditEvent, Checkin, CopingSkill, db
from tests.factories import checkin_body, problem

LARGEST_ID = 2_147_483_647


# --- bodies no route reads ---------------------------------------------------------------

def json_routes(app) -> list[tuple[str, str]]:
    """Return (method, path) for every route that takes a body, path parameters filled in."""
    examples = {"int": "1", "day": "2026-11-23", "default": "token"}
    routes = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>",
                      lambda part: examples.get(part.group(1) or "default", "1"), rule.rule)
        routes += [(method, path) for method in sorted(rule.methods & {"POST", "PUT", "PATCH"})]
    return sorted(routes)


UNREADABLE_BODIES = {
    "objects nested 3,000 deep": '{"email": ' * 3000 + "1" + "}" * 3000,
    "lists nested 3,000 deep": "[" * 3000 + "]" * 3000,
    "a field nested 33 deep": '{"email": ' + "[" * 33 + "]" * 33 + "}",
    "an integer of 4,301 digits": '{"email": 1' + "0" * 4300 + "}",
    "a number of 200,000 digits": '{"email": 0.' + "1" * 200_000 + "}",
    "a field named twice": '{"email": "a@example.org", "email": "b@example.org"}',
    "Latin-1, not UTF-8": '{"email": "café@example.org"}'.encode("latin-1"),
    "UTF-16, not UTF-8": '{"email": "a@example.org"}'.encode("utf-16"),
}


@pytest.fixture
def callers(make):
    """A patient's headers for /me routes, an admin's for the rest: each route's usual caller."""
    organization = make.organization()
    return {"patient": make.headers(make.patient(make.clinician(organization))),
            "staff": make.headers(make.admin(organization))}


@pytest.mark.parametrize("body", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES.keys())
def test_a_body_no_parser_should_read_is_a_400_problem_on_every_route(app, client, callers, body):
    answers = {}
    for method, path in json_routes(app):
        headers = callers["patient" if path.startswith("/api/v1/me") else "staff"]
        response = client.open(path, method=method, headers=headers, data=body, content_type="application/json")
        answers[(method, path)] = (response.status_code, response.mimetype)

    assert len(answers) > 20
    assert answers == dict.fromkeys(answers, (400, "application/problem+json"))


def test_the_400_says_what_is_wrong_with_the_body(client, callers):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=callers["patient"],
                          data=UNREADABLE_BODIES["objects nested 3,000 deep"], content_type="application/json")

    body = problem(response, 400)
    assert body["detail"] == "The body nests objects and lists more than 32 levels deep."
    assert body["errors"] == {"json": [body["detail"]]}


def test_a_body_sent_without_a_length_is_read_and_refused_too(client, callers):
    # Chunked: no Content-Length, and the server says where the body ends.
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=callers["patient"],
                          data=UNREADABLE_BODIES["objects nested 3,000 deep"], content_type="application/json",
                          environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})

    assert problem(response, 400)["detail"] == "The body nests objects and lists more than 32 levels deep."


@pytest.mark.parametrize("body", [UNREADABLE_BODIES["objects nested 3,000 deep"],
                                  UNREADABLE_BODIES["an integer of 4,301 digits"]], ids=["deep", "long integer"])
def test_a_login_with_an_unreadable_body_is_refused_and_audited(client, body):
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")

    problem(response, 400)
    db.session.expire_all()
    events = db.session.scalars(select(AuditEvent)).all()
    assert [(e.action, e.resource, e.outcome, e.status_code, e.actor_id, e.detail) for e in events] == [
        ("login", "auth.Login", "failed", 400, None, {"method": "POST"})]


def test_a_deep_body_is_still_read_on_a_route_that_takes_none(client, callers):
    # Unmatched routes answer 404 whatever the body: nothing is parsed for them.
    response = client.post("/api/v1/nowhere", headers=callers["staff"],
                           data=UNREADABLE_BODIES["lists nested 3,000 deep"], content_type="application/json")

    problem(response, 404)


def test_a_body_nested_32_deep_is_read(client, callers):
    # Within the bound the body reaches the schema, which refuses it for what it says.
    response = client.post("/api/v1/auth/login", headers=callers["staff"],
                           data='{"email": ' + "[" * 31 + "]" * 31 + "}", content_type="application/json")

    assert "email" in problem(response, 422)["errors"]


# --- numbers past a double's range ---------------------------------------------------------

# Literals as they appear in the body: beyond a double (1e400 reads as infinity),
# where four times the value overflows (4.5e307), NaN and Infinity (which Python's
# json reads), subnormals, and plain out-of-range or off-step hours.
BAD_HOURS = ["4.5e307", "1e308", "1.7976931348623157e308", "-1e308", "1e400", "-1e400", "NaN", "Infinity",
             "-Infinity", "1e-320", "5e-324", "-0.25", "7.6", "1" + "0" * 40]


def with_number(body: dict, field: str, literal: str) -> str:
    """Return body as JSON text with field's value written as the literal itself."""
    return json.dumps({**body, field: "NUMBER"}).replace('"NUMBER"', literal)


@pytest.fixture
def patient_auth(callers):
    return callers["patient"]


@pytest.mark.parametrize("literal", BAD_HOURS)
def test_bad_sleep_hours_are_a_422_on_a_checkin(client, patient_auth, count, literal):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=patient_auth,
                          data=with_number(checkin_body(), "sleep_hours", literal), content_type="application/json")

    assert list(problem(response, 422)["errors"]) == ["sleep_hours"]
    assert count(Checkin) == 0


@pytest.mark.parametrize("literal", BAD_HOURS)
def test_one_bad_sleep_hours_in_a_sync_refuses_that_day_alone(client, patient_auth, count, literal):
    queue = [{"date": "2026-11-20", **checkin_body()}, {"date": "2026-11-21", **checkin_body(sleep_hours="NUMBER")},
             {"date": "2026-11-22", **checkin_body()}]
    body = json.dumps({"checkins": queue}).replace('"NUMBER"', literal)

    response = client.post("/api/v1/me/checkins/sync", headers=patient_auth, data=body,
                           content_type="application/json")

    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.json["results"]
    assert [(r["date"], r["outcome"], r["status"]) for r in results] == [
        ("2026-11-20", "created", 201), ("2026-11-21", "refused", 422), ("2026-11-22", "created", 201)]
    assert list(results[1]["problem"]["errors"]) == ["sleep_hours"]
    assert count(Checkin) == 2


@pytest.fixture
def care_team(make):
    clinician = make.clinician()
    return make.patient(clinician), make.headers(clinician)


def attendance(**overrides) -> dict:
    return {"session_date": "2026-11-20", "kind": "group", "status": "attended", "hours": 3, **overrides}


@pytest.mark.parametrize("literal", BAD_HOURS)
def test_bad_hours_are_a_422_on_an_attendance_record(client, care_team, count, literal):
    patient, auth = care_team

    response = client.post(f"/api/v1/patients/{patient.id}/attendance", headers=auth,
                           data=with_number(attendance(), "hours", literal), content_type="application/json")

    assert list(problem(response, 422)["errors"]) == ["hours"]
    assert count(AttendanceRecord) == 0


def test_minus_zero_sleep_hours_is_stored_and_shown_as_zero(client, patient_auth):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=patient_auth,
                          data=with_number(checkin_body(), "sleep_hours", "-0.0"), content_type="application/json")

    assert response.status_code == 201, response.json
    assert '"sleep_hours":0.0' in response.get_data(as_text=True).replace(" ", "")
    assert str(db.session.scalars(select(Checkin.sleep_hours)).one()) == "0.0"


def test_minus_zero_hours_of_a_missed_session_are_stored_and_shown_as_zero(client, care_team):
    patient, auth = care_team

    response = client.post(f"/api/v1/patients/{patient.id}/attendance", headers=auth,
                           data=with_number(attendance(status="missed"), "hours", "-0.0"),
                           content_type="application/json")

    assert response.status_code == 201, response.json
    assert '"hours":0.0' in response.get_data(as_text=True).replace(" ", "")
    assert str(db.session.scalars(select(AttendanceRecord.hours)).one()) == "0.0"


# --- codes with a trailing newline ---------------------------------------------------------

def test_a_coping_skill_code_with_a_trailing_newline_is_not_added(client, make, count):
    admin_auth = make.headers(make.admin())
    before = count(CopingSkill)

    response = client.post("/api/v1/coping-skills", headers=admin_auth, json={"code": "walk\n", "label": "Walk"})

    assert problem(response, 422)["errors"] == {"code": ["Use 2-40 lower-case letters, digits or _."]}
    assert count(CopingSkill) == before


def test_a_checkin_code_with_a_trailing_newline_is_refused_by_its_format(client, patient_auth, count):
    response = client.put("/api/v1/me/checkins/2026-11-23", headers=patient_auth,
                          json=checkin_body(coping_skills=["urge_surfing\n"]))

    assert problem(response, 422)["errors"] == {"coping_skills": {"0": ["Use 2-40 lower-case letters, digits or _."]}}
    assert count(Checkin) == 0


def test_an_audit_action_with_a_trailing_newline_is_refused(client, make):
    response = client.get("/api/v1/audit-log", headers=make.headers(make.admin()), query_string={"action": "login\n"})

    assert list(problem(response, 422)["errors"]) == ["action"]


# --- ids at the edges of a 32-bit integer ----------------------------------------------------

QUERY_IDS = [("/api/v1/alerts", "patient_id"), ("/api/v1/audit-log", "actor_id"),
             ("/api/v1/audit-log", "patient_id"), ("/api/v1/caseload", "program_id")]


@pytest.mark.parametrize("path, name", QUERY_IDS)
@pytest.mark.parametrize("value", ["1", "999999999", "1000000000", "1234567890", str(LARGEST_ID)])
def test_a_query_id_in_the_32_bit_range_is_read(client, make, path, name, value):
    response = client.get(path, headers=make.headers(make.admin()), query_string={name: value})

    assert response.status_code in (200, 404), response.get_data(as_text=True)


@pytest.mark.parametrize("path, name", QUERY_IDS)
@pytest.mark.parametrize("value", ["0", str(LARGEST_ID + 1), "99999999999", "9" * 30])
def test_a_query_id_past_the_32_bit_range_is_a_422_naming_the_range(client, make, path, name, value):
    response = client.get(path, headers=make.headers(make.admin()), query_string={name: value})

    assert problem(response, 422)["errors"] == {
        name: ["Must be greater than or equal to 1 and less than or equal to 2147483647."]}


def test_a_query_number_of_thousands_of_digits_is_a_422(client, make):
    response = client.get("/api/v1/alerts", headers=make.headers(make.admin()),
                          query_string={"patient_id": "9" * 5000, "page": "1" * 5000})

    assert problem(response, 422)["errors"] == {"patient_id": ["Number too large."], "page": ["Number too large."]}


def path_id_routes(app) -> list[tuple[str, str]]:
    """Return (method, path template) of every route with an id in its path; {} marks the ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "<id:" not in rule.rule:
            continue
        template = re.sub(r"<id:\w+>", "{id}", rule.rule)
        template = template.replace("<day:day>", "2026-11-23").replace("<token>", "token")
        routes += [(method, template) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@pytest.mark.parametrize("value", [str(LARGEST_ID + 1), "99999999999", "9" * 30, "9" * 5000])
def test_a_path_id_past_the_32_bit_range_names_no_record(app, client, callers, value):
    answers = {}
    for method, template in path_id_routes(app):
        path = template.replace("{id}", value)
        headers = callers["patient" if path.startswith("/api/v1/me") else "staff"]
        response = client.open(path, method=method, headers=headers, json={})
        answers[(method, template)] = (response.status_code, response.mimetype)

    assert len(answers) > 10
    assert answers == dict.fromkeys(answers, (404, "application/problem+json"))


def test_the_largest_path_id_is_read_and_names_no_record(client, callers):
    response = client.get(f"/api/v1/patients/{LARGEST_ID}", headers=callers["staff"])

    assert problem(response, 404)["detail"] == "No such patient."
