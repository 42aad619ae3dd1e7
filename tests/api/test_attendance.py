"""Attendance: the care team records sessions; rate and hours per week against the plan."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from models import AttendanceRecord, LevelOfCare, LevelOfCareChange, db
from tests.factories import create_session, problem

# The frozen clock: Monday 2026-11-23, noon in New York. Patients enrolled on
# 2026-10-01 unless a test says otherwise, so the last 8 weeks are in treatment.
ENROLLED = "2026-10-01T14:00:00+00:00"


@pytest.fixture
def patient(make, clinician, clock):
    """Conftest's patient, enrolled at ENROLLED instead of the frozen now."""
    with clock.moved_to(ENROLLED):
        return make.patient(clinician)


def session(**overrides) -> dict:
    body = {"session_date": "2026-11-20", "kind": "group", "status": "attended", "hours": 3, "note": "Shared in group"}
    body.update(overrides)
    return body


def stored() -> list[tuple]:
    return [(r.session_date, r.kind.value, r.status.value, r.hours, r.note) for r in db.session.scalars(
        select(AttendanceRecord).order_by(AttendanceRecord.id).execution_options(populate_existing=True))]


def url(patient, tail: str = "") -> str:
    return f"/api/v1/patients/{patient.id}/attendance{tail}"


# --- recording ---------------------------------------------------------------------

def test_a_clinician_on_the_care_team_records_a_session(client, clinician_auth, clinician, patient):
    response = client.post(url(patient), headers=clinician_auth, json=session())

    assert response.status_code == 201, response.json
    assert response.json == {
        "id": response.json["id"], "patient_id": patient.id, "session_date": "2026-11-20",
        "kind": "group", "status": "attended", "hours": 3.0, "note": "Shared in group",
        "recorded_by_id": clinician.id, "recorded_at": "2026-11-23T17:00:00+00:00",
    }
    assert stored() == [(date(2026, 11, 20), "group", "attended", 3.0, "Shared in group")]


def test_an_admin_of_the_organization_records_a_session(client, make, patient):
    admin = make.admin(patient.organization)

    response = client.post(url(patient), headers=make.headers(admin), json=session(kind="family"))

    assert response.status_code == 201, response.json
    assert response.json["recorded_by_id"] == admin.id


@pytest.mark.parametrize("status, hours", [("missed", 0), ("missed", 3), ("excused", 0), ("excused", 1.5)])
def test_a_missed_or_excused_session_carries_its_scheduled_length_or_0(client, clinician_auth, patient, status, hours):
    response = client.post(url(patient), headers=clinician_auth, json=session(status=status, hours=hours, note=None))

    assert response.status_code == 201, response.json
    assert stored() == [(date(2026, 11, 20), "group", status, hours, None)]


def test_a_session_today_is_accepted_and_a_blank_note_is_stored_as_none(client, clinician_auth, patient):
    response = client.post(url(patient), headers=clinician_auth, json=session(session_date="2026-11-23", note="   "))

    assert response.status_code == 201
    assert response.json["note"] is None


@pytest.mark.parametrize("hours", [0.25, 11.75, 12])
def test_hours_are_taken_in_quarter_hours_up_to_12(client, clinician_auth, patient, hours):
    assert client.post(url(patient), headers=clinician_auth, json=session(hours=hours)).status_code == 201


@pytest.mark.parametrize("timezone_name, day, status", [
    # At 2026-11-23 19:00 UTC it is 00:30 on the 24th in Kolkata, 11:00 on the 23rd in Los Angeles.
    ("Asia/Kolkata", "2026-11-24", 201),
    ("America/Los_Angeles", "2026-11-24", 422),
    ("America/Los_Angeles", "2026-11-23", 201),
])
def test_the_patients_own_time_zone_decides_what_is_the_future(client, make, clock, clinician_auth, clinician,
                                                                timezone_name, day, status):
    clock.set("2026-11-23T19:00:00+00:00")
    patient = make.patient(clinician, timezone=timezone_name)

    response = client.post(url(patient), headers=clinician_auth, json=session(session_date=day))

    assert response.status_code == status, response.json
    if status == 422:
        assert problem(response, 422)["errors"] == {
            "session_date": ["Is in the future for the patient's time zone."]}
        assert stored() == []


@pytest.mark.parametrize("day, status, error", [
    ("2025-11-23", 201, None),  # a year back: still recordable
    ("2025-11-22", 422, "Is more than 365 days back."),
    ("0001-01-01", 422, "Use a year from 1900 to 9998."),  # once a 500: the rules' date math overflowed
])
def test_a_session_more_than_a_year_back_is_refused(client, make, clinician_auth, clinician, day, status, error):
    patient = make.patient(clinician)

    response = client.post(url(patient), headers=clinician_auth, json=session(session_date=day, status="missed"))

    assert response.status_code == status, response.json
    if status == 422:
        assert problem(response, 422)["errors"] == {"session_date": [error]}
        assert stored() == []


# --- bad input: 422 with per-field errors, nothing written ------------------------------

@pytest.mark.parametrize("overrides, field", [
    ({"session_date": None}, "session_date"),
    ({"session_date": "2026-11-31"}, "session_date"),
    ({"session_date": "20261120"}, "session_date"),
    ({"session_date": "2026-11-20T10:00:00"}, "session_date"),
    ({"session_date": 20261120}, "session_date"),
    ({"kind": "phone"}, "kind"),
    ({"kind": None}, "kind"),
    ({"kind": "Group"}, "kind"),
    ({"status": "late"}, "status"),
    ({"status": True}, "status"),
    ({"hours": -0.25}, "hours"),
    ({"hours": 12.25}, "hours"),
    ({"hours": 0.3}, "hours"),
    ({"hours": "3"}, "hours"),
    ({"hours": True}, "hours"),
    ({"hours": None}, "hours"),
    ({"note": "x" * 501}, "note"),
    ({"note": "bad\x00byte"}, "note"),
    ({"note": 7}, "note"),
    ({"recorded_by_id": 1}, "recorded_by_id"),
    ({"patient_id": 1}, "patient_id"),
    ({"minutes": 30}, "minutes"),
    ({"status": "attended", "hours": 0}, "hours"),
    ({"session_date": "2026-11-24"}, "session_date"),
])
def test_a_bad_session_is_refused_field_by_field_and_nothing_is_written(client, clinician_auth, patient, overrides,
                                                                        field):
    response = client.post(url(patient), headers=clinician_auth, json=session(**overrides))

    assert list(problem(response, 422)["errors"]) == [field]
    assert stored() == []


@pytest.mark.parametrize("missing", ["session_date", "kind", "status", "hours"])
def test_every_required_field_is_named_when_missing(client, clinician_auth, patient, missing):
    body = session()
    del body[missing]

    response = client.post(url(patient), headers=clinician_auth, json=body)

    assert problem(response, 422)["errors"] == {missing: ["Missing data for required field."]}
    assert stored() == []


def test_the_domain_rules_are_reported_together(client, clinician_auth, patient):
    response = client.post(url(patient), headers=clinician_auth, json=session(session_date="2026-12-01", hours=0))

    assert set(problem(response, 422)["errors"]) == {"session_date", "hours"}


def test_a_note_with_an_unpaired_surrogate_is_refused_not_a_server_error(client, clinician_auth, patient):
    body = '{"session_date": "2026-11-20", "kind": "group", "status": "attended", "hours": 3, "note": "x\\udfff"}'

    response = client.post(url(patient), headers={**clinician_auth, "Content-Type": "application/json"}, data=body)

    assert list(problem(response, 422)["errors"]) == ["note"]
    assert stored() == []


def test_a_note_may_span_lines_up_to_500_characters(client, clinician_auth, patient):
    note = "Left early.\nCalled later.\t" + "x" * 473

    response = client.post(url(patient), headers=clinician_auth, json=session(note=note))

    assert response.status_code == 201, response.json
    assert stored()[0][4] == note


# --- who may record: never a patient, never an outsider ----------------------------------

def test_a_patient_cannot_record_attendance_even_their_own(client, make, patient):
    response = client.post(url(patient), headers=make.headers(patient), json=session())

    problem(response, 403)
    assert stored() == []


def test_a_patient_recording_for_another_patient_finds_no_such_patient(client, make, patient):
    other = make.patient(organization=patient.organization)

    response = client.post(url(patient), headers=make.headers(other), json=session())

    assert set(problem(response, 404)) <= {"type", "title", "status", "detail"}
    assert stored() == []


@pytest.mark.parametrize("outsider", ["clinician off the care team", "clinician of another organization",
                                      "admin of another organization"])
def test_staff_outside_the_patients_reach_get_404_and_write_nothing(client, make, patient, outsider):
    actor = {
        "clinician off the care team": lambda: make.clinician(patient.organization),
        "clinician of another organization": lambda: make.clinician(),
        "admin of another organization": lambda: make.admin(),
    }[outsider]()

    response = client.post(url(patient), headers=make.headers(actor), json=session())

    body = problem(response, 404)
    assert set(body) <= {"type", "title", "status", "detail"}
    assert stored() == []


# --- the list ----------------------------------------------------------------------

@pytest.fixture
def sessions(patient, clinician):
    """Five sessions in November, one of them excused."""
    for day, status in [(2, "attended"), (5, "missed"), (9, "attended"), (12, "excused"), (16, "attended")]:
        create_session(patient, date(2026, 11, day), clinician, status=status, hours=3)
    return patient


@pytest.mark.parametrize("query, days", [
    ("", ["2026-11-16", "2026-11-12", "2026-11-09", "2026-11-05", "2026-11-02"]),
    ("page=1&page_size=2", ["2026-11-16", "2026-11-12"]),
    ("page=3&page_size=2", ["2026-11-02"]),
    ("page=4&page_size=2", []),
    ("from=2026-11-05&to=2026-11-12", ["2026-11-12", "2026-11-09", "2026-11-05"]),
    ("from=2026-11-10", ["2026-11-16", "2026-11-12"]),
    ("to=2026-11-04", ["2026-11-02"]),
])
def test_the_care_team_lists_sessions_newest_first_a_page_at_a_time(client, clinician_auth, sessions, query, days):
    response = client.get(url(sessions, f"?{query}"), headers=clinician_auth)

    assert response.status_code == 200, response.json
    assert [r["session_date"] for r in response.json["items"]] == days
    expected_total = {"from=2026-11-05&to=2026-11-12": 3, "from=2026-11-10": 2, "to=2026-11-04": 1}.get(query, 5)
    assert response.json["total"] == expected_total


@pytest.mark.parametrize("query, field", [
    ("from=2026-11-20&to=2026-11-10", "from"), ("from=yesterday", "from"), ("to=2026-02-30", "to"),
    ("page=0", "page"), ("page_size=201", "page_size"), ("page=x", "page"),
])
def test_a_bad_list_query_is_refused(client, clinician_auth, sessions, query, field):
    assert list(problem(client.get(url(sessions, f"?{query}"), headers=clinician_auth), 422)["errors"]) == [field]


# --- the weekly summary --------------------------------------------------------------

@pytest.fixture
def weeks_of_sessions(patient, clinician):
    """Three weeks: 2026-11-09 (below plan), 11-16 (within), 11-23 (this week, in progress)."""
    for day, status, hours in [
        (9, "attended", 3), (11, "missed", 3), (13, "excused", 3),  # 3 h attended: below 9
        (16, "attended", 3), (17, "attended", 3.5), (18, "attended", 3), (20, "missed", 3),
        (22, "attended", 0.5),  # Sunday: still the week of the 16th
        (23, "attended", 3),
    ]:
        create_session(patient, date(2026, 11, day), clinician, status=status, hours=hours)
    return patient


def test_the_summary_gives_each_weeks_rate_and_hours_against_the_plan(client, clinician_auth, weeks_of_sessions):
    response = client.get(url(weeks_of_sessions, "/summary?weeks=3"), headers=clinician_auth)

    assert response.status_code == 200, response.json
    body = response.json
    assert [(w["week_start"], w["attended"], w["missed"], w["excused"], w["attendance_rate"],
             w["hours_attended"], w["plan_status"], w["in_progress"]) for w in body["weeks"]] == [
        ("2026-11-09", 1, 1, 1, 50.0, 3.0, "below", False),
        ("2026-11-16", 4, 1, 0, 80.0, 10.0, "within", False),
        ("2026-11-23", 1, 0, 0, 100.0, 3.0, None, True),
    ]
    first = body["weeks"][0]
    assert (first["week_end"], first["level_of_care"], first["planned_hours_min"], first["planned_hours_max"]) == (
        "2026-11-15", "iop", 9.0, 20.0)
    assert (first["hours_missed"], first["hours_excused"]) == (3.0, 3.0)
    assert (body["attended"], body["missed"], body["excused"], body["attendance_rate"], body["hours_attended"]) == (
        6, 2, 1, 75.0, 16.0)
    assert body["level_of_care"] == "iop" and body["patient_id"] == weeks_of_sessions.id


def test_the_summary_covers_8_weeks_by_default_and_empty_weeks_have_no_rate(client, clinician_auth, weeks_of_sessions):
    weeks = client.get(url(weeks_of_sessions, "/summary"), headers=clinician_auth).json["weeks"]

    assert len(weeks) == 8 and weeks[0]["week_start"] == "2026-10-05"
    assert (weeks[0]["attendance_rate"], weeks[0]["hours_attended"], weeks[0]["plan_status"]) == (None, 0.0, "below")


def test_weeks_before_the_patient_was_enrolled_are_not_judged_against_the_plan(client, make, clock, clinician,
                                                                              clinician_auth):
    clock.set("2026-11-12T15:00:00+00:00")  # enrolled on a Thursday
    patient = make.patient(clinician)
    create_session(patient, date(2026, 11, 13), clinician, hours=3)
    clock.set("2026-11-23T17:00:00+00:00")

    weeks = client.get(url(patient, "/summary?weeks=3"), headers=clinician_auth).json["weeks"]

    assert [(w["week_start"], w["hours_attended"], w["plan_status"]) for w in weeks] == [
        ("2026-11-09", 3.0, None), ("2026-11-16", 0.0, "below"), ("2026-11-23", 0.0, None)]


def test_each_week_is_judged_against_the_level_of_care_it_began_with(client, make, clinician_auth, patient, clinician):
    create_session(patient, date(2026, 11, 10), clinician, hours=12)
    create_session(patient, date(2026, 11, 12), clinician, hours=10)  # 22 h: above IOP, within PHP
    create_session(patient, date(2026, 11, 17), clinician, hours=12)
    create_session(patient, date(2026, 11, 19), clinician, hours=10)
    stepped_up = client.post(f"/api/v1/patients/{patient.id}/level-of-care", headers=clinician_auth,
                             json={"level_of_care": "php", "effective_date": "2026-11-16"})
    assert stepped_up.status_code == 201, stepped_up.json

    weeks = client.get(url(patient, "/summary?weeks=3"), headers=clinician_auth).json["weeks"]

    assert [(w["level_of_care"], w["planned_hours_min"], w["hours_attended"], w["plan_status"]) for w in weeks] == [
        ("iop", 9.0, 22.0, "above"), ("php", 20.0, 22.0, "within"), ("php", 20.0, 0.0, None)]


def test_a_step_down_effective_midweek_applies_from_the_next_week(client, make, clinician_auth, patient, clinician):
    db.session.add(LevelOfCareChange(patient_id=patient.id, level_of_care=LevelOfCare.outpatient,
                                     effective_date=date(2026, 11, 18), changed_by_id=clinician.id,
                                     changed_at=datetime(2026, 11, 18, tzinfo=timezone.utc)))
    db.session.commit()

    weeks = client.get(url(patient, "/summary?weeks=2"), headers=clinician_auth).json["weeks"]

    assert [w["level_of_care"] for w in weeks] == ["iop", "outpatient"]


@pytest.mark.parametrize("query", ["weeks=0", "weeks=53", "weeks=two", "weeks=2.0", "weeks="])
def test_a_bad_number_of_weeks_is_refused(client, clinician_auth, patient, query):
    summary = client.get(url(patient, f"/summary?{query}"), headers=clinician_auth)
    assert list(problem(summary, 422)["errors"]) == ["weeks"]


# --- weeks start on Monday in the patient's own time zone -------------------------------

@pytest.mark.parametrize("timezone_name, current_week, current_hours", [
    # 2026-11-23 04:30 UTC: Sunday 23:30 in New York, Monday 10:00 in Kolkata.
    ("America/New_York", "2026-11-16", 2.0),
    ("Asia/Kolkata", "2026-11-23", 0.0),
])
def test_the_patients_time_zone_decides_which_week_is_current(client, make, clock, clinician, clinician_auth,
                                                               timezone_name, current_week, current_hours):
    clock.set("2026-11-01T12:00:00+00:00")
    patient = make.patient(clinician, timezone=timezone_name)
    create_session(patient, date(2026, 11, 22), clinician, hours=2)  # the Sunday
    clock.set("2026-11-23T04:30:00+00:00")

    weeks = client.get(url(patient, "/summary?weeks=2"), headers=clinician_auth).json["weeks"]

    assert (weeks[-1]["week_start"], weeks[-1]["in_progress"], weeks[-1]["hours_attended"]) == (
        current_week, True, current_hours)
    assert weeks[-1]["plan_status"] is None
    if timezone_name == "Asia/Kolkata":
        assert (weeks[0]["week_start"], weeks[0]["hours_attended"], weeks[0]["plan_status"]) == (
            "2026-11-16", 2.0, "below")


# --- the patient's own view ------------------------------------------------------------

def test_a_patient_sees_their_own_summary_as_the_care_team_does(client, make, clinician_auth, weeks_of_sessions):
    own = client.get("/api/v1/me/attendance?weeks=3", headers=make.headers(weeks_of_sessions))

    assert own.status_code == 200, own.json
    assert own.json == client.get(url(weeks_of_sessions, "/summary?weeks=3"), headers=clinician_auth).json


def test_staff_have_no_attendance_of_their_own(client, clinician_auth):
    problem(client.get("/api/v1/me/attendance", headers=clinician_auth), 403)


@pytest.mark.parametrize("query", ["weeks=0", "weeks=x"])
def test_a_patients_bad_number_of_weeks_is_refused(client, make, patient, query):
    response = client.get(f"/api/v1/me/attendance?{query}", headers=make.headers(patient))

    assert list(problem(response, 422)["errors"]) == ["weeks"]


# --- who may read ------------------------------------------------------------------

@pytest.mark.parametrize("tail", ["", "/summary"])
@pytest.mark.parametrize("outsider", ["clinician off the care team", "clinician of another organization",
                                      "admin of another organization", "another patient"])
def test_outsiders_get_404_and_no_data_for_a_patients_attendance(client, make, sessions, outsider, tail):
    organization = sessions.organization
    actor = {
        "clinician off the care team": lambda: make.clinician(organization),
        "clinician of another organization": lambda: make.clinician(),
        "admin of another organization": lambda: make.admin(),
        "another patient": lambda: make.patient(organization=organization),
    }[outsider]()

    response = client.get(url(sessions, tail), headers=make.headers(actor))

    body = problem(response, 404)
    assert set(body) <= {"type", "title", "status", "detail"}
    assert "2026-11" not in response.get_data(as_text=True)


@pytest.mark.parametrize("tail", ["", "/summary"])
def test_an_admin_of_the_organization_reads_a_patients_attendance(client, make, sessions, tail):
    response = client.get(url(sessions, tail), headers=make.headers(make.admin(sessions.organization)))

    assert response.status_code == 200, response.json


@pytest.mark.parametrize("tail", ["", "/summary"])
def test_a_patient_id_beyond_any_stored_one_is_simply_not_found(client, clinician_auth, tail):
    problem(client.get(f"/api/v1/patients/99999999999999999999/attendance{tail}", headers=clinician_auth), 404)
    problem(client.post("/api/v1/patients/2147483648/attendance", headers=clinician_auth, json=session()), 404)


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/patients/1/attendance"), ("post", "/api/v1/patients/1/attendance"),
    ("get", "/api/v1/patients/1/attendance/summary"), ("get", "/api/v1/me/attendance"),
])
def test_every_attendance_route_needs_a_login(client, method, path):
    problem(getattr(client, method)(path, json=session()), 401)


def test_two_missed_sessions_in_a_row_raise_one_missed_sessions_alert(client, clinician_auth, patient):
    from models import Alert, db

    for day in ("2026-11-18", "2026-11-20"):
        answer = client.post(url(patient), headers=clinician_auth, json=session(session_date=day, status="missed"))
        assert answer.status_code == 201, answer.json

    alerts = db.session.scalars(db.select(Alert).where(Alert.patient_id == patient.id)).all()
    assert [(a.rule, a.status.value) for a in alerts] == [("missed_sessions", "open")]
