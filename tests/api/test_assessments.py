"""Questionnaires over HTTP: instruments, schedules, what is due, answers, history."""
import threading
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from models import Alert, AssessmentAssignment, AssessmentResponse, db
from services import assessment_schedule, assessments
from services.instruments import INSTRUMENTS
from tests.factories import (
    assessment_assignment,
    assessment_response,
    problem,
    questionnaire_answers,
)

TODAY = date(2026, 11, 23)  # the frozen clock's day in New York


def assignments_url(patient_id: int) -> str:
    return f"/api/v1/patients/{patient_id}/assessment-assignments"


def order(**overrides) -> dict:
    body = {"instrument": "phq9", "cadence_days": 14, "window_days": 3}
    body.update(overrides)
    return body


def submit(client, auth, assignment, answers=None, **overrides):
    answers = answers if answers is not None else questionnaire_answers(assignment.instrument)
    return client.post("/api/v1/me/assessments", headers=auth,
                       json={"assignment_id": assignment.id, "answers": answers, **overrides})


def phq9_answers(total: int, item9: int = 0) -> dict:
    answers = questionnaire_answers("phq9", {"9": item9})
    left = total - item9
    for item in map(str, range(1, 9)):
        answers[item] = min(3, left)
        left -= answers[item]
    assert left == 0
    return answers


def stored_responses() -> list[tuple]:
    return [(r.assignment_id, r.occurrence_on, r.total) for r in db.session.scalars(
        select(AssessmentResponse).order_by(AssessmentResponse.id))]


def outsiders(make, patient) -> dict:
    """Callers who must not learn that the patient exists."""
    other_org = make.organization()
    return {
        "clinician off the care team": make.clinician(patient.organization),
        "clinician of another organization": make.clinician(other_org),
        "admin of another organization": make.admin(other_org),
        "another patient": make.patient(organization=patient.organization),
        "patient of another organization": make.patient(organization=other_org),
    }


OUTSIDERS = ["clinician off the care team", "clinician of another organization",
             "admin of another organization", "another patient", "patient of another organization"]


def assert_reveals_nothing(body: dict, patient) -> None:
    text = str(body)
    assert patient.email not in text and patient.display_name not in text


# --- instruments ---------------------------------------------------------------

@pytest.mark.parametrize("role", ["patient", "clinician", "admin"])
def test_any_signed_in_user_gets_the_instruments_exactly_as_they_are_scored(client, make, patient, role):
    user = {"patient": patient, "clinician": make.clinician(), "admin": make.admin()}[role]

    response = client.get("/api/v1/instruments", headers=make.headers(user))

    assert response.status_code == 200
    assert response.json == [instrument.to_dict() for instrument in INSTRUMENTS.values()]
    by_code = {i["code"]: i for i in response.json}
    assert [len(by_code[c]["items"]) for c in ("phq9", "gad7", "bam")] == [9, 7, 17]
    assert by_code["phq9"]["items"][8]["options"][1] == {"value": 1, "label": "Several days", "points": 1}
    assert [b["low"] for b in by_code["phq9"]["bands"]] == [0, 5, 10, 15, 20]


def test_the_instruments_need_a_signed_in_user(client, app):
    problem(client.get("/api/v1/instruments"), 401)


# --- assigning -------------------------------------------------------------------

def test_a_clinician_on_the_care_team_assigns_a_questionnaire(client, clinician_auth, clinician, patient):
    response = client.post(assignments_url(patient.id), headers=clinician_auth,
                           json=order(starts_on="2026-11-30"))

    assert response.status_code == 201, response.json
    body = response.json
    assert {k: body[k] for k in ("patient_id", "instrument", "cadence_days", "window_days", "starts_on",
                                 "assigned_by_id", "ended_at", "active")} == {
        "patient_id": patient.id, "instrument": "phq9", "cadence_days": 14, "window_days": 3,
        "starts_on": "2026-11-30", "assigned_by_id": clinician.id, "ended_at": None, "active": True,
    }
    assert db.session.get(AssessmentAssignment, body["id"]).starts_on == date(2026, 11, 30)


def test_an_admin_of_the_organization_assigns_a_questionnaire(client, make, patient):
    auth = make.headers(make.admin(patient.organization))

    response = client.post(assignments_url(patient.id), headers=auth, json=order(instrument="bam"))

    assert response.status_code == 201, response.json


@pytest.mark.parametrize("timezone_name, expected", [
    ("Asia/Kolkata", "2026-11-24"), ("America/Los_Angeles", "2026-11-23"),
])
def test_the_first_occurrence_defaults_to_the_patients_local_today(client, make, clock, clinician,
                                                                   clinician_auth, timezone_name, expected):
    patient = make.patient(clinician, timezone=timezone_name)
    clock.set("2026-11-23T20:00:00+00:00")

    response = client.post(assignments_url(patient.id), headers=clinician_auth, json=order())

    assert response.json["starts_on"] == expected


def test_a_second_active_assignment_of_the_same_instrument_is_refused(client, clinician_auth, patient, count):
    first = client.post(assignments_url(patient.id), headers=clinician_auth, json=order()).json

    response = client.post(assignments_url(patient.id), headers=clinician_auth, json=order(cadence_days=7))

    body = problem(response, 409)
    assert f"id {first['id']}" in body["detail"]
    assert count(AssessmentAssignment) == 1


def test_another_instrument_can_run_beside_an_active_one(client, clinician_auth, patient, count):
    client.post(assignments_url(patient.id), headers=clinician_auth, json=order())

    response = client.post(assignments_url(patient.id), headers=clinician_auth, json=order(instrument="gad7"))

    assert response.status_code == 201
    assert count(AssessmentAssignment) == 2


def test_once_ended_an_instrument_can_be_assigned_again(client, clinician_auth, patient):
    first = client.post(assignments_url(patient.id), headers=clinician_auth, json=order()).json
    client.post(f"{assignments_url(patient.id)}/{first['id']}/end", headers=clinician_auth)

    response = client.post(assignments_url(patient.id), headers=clinician_auth, json=order(cadence_days=7))

    assert response.status_code == 201


@pytest.mark.parametrize("overrides, field", [
    ({"instrument": "beck"}, "instrument"),
    ({"instrument": None}, "instrument"),
    ({"cadence_days": 0}, "cadence_days"),
    ({"cadence_days": 91}, "cadence_days"),
    ({"cadence_days": "7"}, "cadence_days"),
    ({"cadence_days": 7.0}, "cadence_days"),
    ({"cadence_days": True}, "cadence_days"),
    ({"window_days": 0}, "window_days"),
    ({"cadence_days": 7, "window_days": 8}, "window_days"),
    ({"starts_on": "2026-11-22"}, "starts_on"),
    ({"starts_on": "2027-11-25"}, "starts_on"),
    ({"starts_on": "2026-W48-1"}, "starts_on"),
    ({"starts_on": "20261130"}, "starts_on"),
    ({"id": 5}, "id"),
])
def test_a_bad_schedule_is_refused_per_field_and_nothing_is_written(client, clinician_auth, patient, count,
                                                                    overrides, field):
    response = client.post(assignments_url(patient.id), headers=clinician_auth, json=order(**overrides))

    body = problem(response, 422)
    assert field in body["errors"]
    assert count(AssessmentAssignment) == 0


@pytest.mark.parametrize("field", ["instrument", "cadence_days", "window_days"])
def test_every_required_schedule_field_must_be_present(client, clinician_auth, patient, count, field):
    body = order()
    del body[field]

    assert field in problem(client.post(assignments_url(patient.id), headers=clinician_auth, json=body),
                            422)["errors"]
    assert count(AssessmentAssignment) == 0


def test_every_schedule_problem_is_reported_at_once(client, clinician_auth, patient):
    response = client.post(assignments_url(patient.id), headers=clinician_auth,
                           json=order(cadence_days=7, window_days=10, starts_on="2026-01-01"))

    assert set(problem(response, 422)["errors"]) == {"window_days", "starts_on"}


def test_a_patient_cannot_assign_their_own_questionnaires(client, patient, auth, count):
    problem(client.post(assignments_url(patient.id), headers=auth, json=order()), 403)
    problem(client.get(assignments_url(patient.id), headers=auth), 403)
    assert count(AssessmentAssignment) == 0


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_anyone_out_of_reach_gets_404_and_nothing_is_written(client, make, patient, count, outsider):
    auth = make.headers(outsiders(make, patient)[outsider])

    created = problem(client.post(assignments_url(patient.id), headers=auth, json=order()), 404)
    listed = problem(client.get(assignments_url(patient.id), headers=auth), 404)

    assert count(AssessmentAssignment) == 0
    assert_reveals_nothing(created, patient)
    assert_reveals_nothing(listed, patient)


def test_an_unknown_patient_is_404(client, clinician_auth):
    problem(client.post(assignments_url(999_999), headers=clinician_auth, json=order()), 404)


def test_assigning_needs_a_signed_in_user(client, patient, count):
    problem(client.post(assignments_url(patient.id), json=order()), 401)
    assert count(AssessmentAssignment) == 0


def test_the_list_shows_active_assignments_first_then_ended_ones(client, clinician_auth, patient, clock):
    old = client.post(assignments_url(patient.id), headers=clinician_auth, json=order()).json
    client.post(f"{assignments_url(patient.id)}/{old['id']}/end", headers=clinician_auth)
    clock.advance(minutes=1)
    gad = client.post(assignments_url(patient.id), headers=clinician_auth, json=order(instrument="gad7")).json
    clock.advance(minutes=1)
    phq = client.post(assignments_url(patient.id), headers=clinician_auth, json=order()).json

    response = client.get(assignments_url(patient.id), headers=clinician_auth)

    assert [(a["id"], a["active"]) for a in response.json] == [
        (phq["id"], True), (gad["id"], True), (old["id"], False),
    ]


# --- ending ----------------------------------------------------------------------

def test_ending_an_assignment_stops_it_and_records_who_and_when(client, clinician, clinician_auth, patient,
                                                                auth, clock):
    assignment = assessment_assignment(patient, clinician)

    response = client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=clinician_auth)

    assert response.status_code == 200, response.json
    assert response.json["active"] is False
    assert response.json["ended_by_id"] == clinician.id
    assert response.json["ended_at"] == clock().isoformat()
    assert client.get("/api/v1/me/assessments/due", headers=auth).json["due"] == []
    assert "stopped" in problem(submit(client, auth, assignment), 409)["detail"]


def test_ending_an_ended_assignment_again_changes_nothing(client, clinician, clinician_auth, patient, clock):
    assignment = assessment_assignment(patient, clinician)
    first = client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=clinician_auth).json
    clock.advance(hours=1)

    again = client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=clinician_auth)

    assert again.status_code == 200
    assert again.json["ended_at"] == first["ended_at"]


def test_an_assignment_of_another_patient_cannot_be_ended_through_this_one(client, make, clinician,
                                                                          clinician_auth, patient):
    other = make.patient(clinician)
    assignment = assessment_assignment(other, clinician)

    problem(client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=clinician_auth), 404)
    assert db.session.get(AssessmentAssignment, assignment.id).ended_at is None


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_no_one_out_of_reach_can_end_an_assignment(client, make, clinician, patient, outsider):
    assignment = assessment_assignment(patient, clinician)
    auth = make.headers(outsiders(make, patient)[outsider])

    problem(client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=auth), 404)
    assert db.session.get(AssessmentAssignment, assignment.id).ended_at is None


def test_a_patient_cannot_end_their_own_assignment(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician)

    problem(client.post(f"{assignments_url(patient.id)}/{assignment.id}/end", headers=auth), 403)
    assert db.session.get(AssessmentAssignment, assignment.id).ended_at is None


# --- what is due ------------------------------------------------------------------

def test_the_patient_sees_what_is_due_today_and_what_comes_next(client, clinician, patient, auth):
    phq9 = assessment_assignment(patient, clinician, "phq9", cadence_days=7, window_days=3)
    gad7 = assessment_assignment(patient, clinician, "gad7", cadence_days=14, window_days=2,
                                 starts_on=date(2026, 11, 25))

    response = client.get("/api/v1/me/assessments/due", headers=auth)

    assert response.status_code == 200
    assert response.json == {
        "today": "2026-11-23",
        "due": [{"assignment_id": phq9.id, "instrument": "phq9", "occurrence_on": "2026-11-23",
                 "due_until": "2026-11-25"}],
        "upcoming": [
            {"assignment_id": gad7.id, "instrument": "gad7", "occurrence_on": "2026-11-25",
             "due_until": "2026-11-26"},
            {"assignment_id": phq9.id, "instrument": "phq9", "occurrence_on": "2026-11-30",
             "due_until": "2026-12-02"},
        ],
    }


def test_an_answered_occurrence_is_no_longer_due(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician)
    submit(client, auth, assignment)

    response = client.get("/api/v1/me/assessments/due", headers=auth)

    assert response.json["due"] == []
    assert [o["occurrence_on"] for o in response.json["upcoming"]] == ["2026-11-30"]


def test_the_next_occurrence_is_due_again_once_it_opens(client, clinician, patient, auth, clock):
    assignment = assessment_assignment(patient, clinician)
    submit(client, auth, assignment)
    clock.set("2026-11-30T17:00:00+00:00")

    response = client.get("/api/v1/me/assessments/due", headers=auth)

    assert [(o["assignment_id"], o["occurrence_on"]) for o in response.json["due"]] == [
        (assignment.id, "2026-11-30")]


@pytest.mark.parametrize("timezone_name, due", [("Asia/Kolkata", True), ("America/Los_Angeles", False)])
def test_at_the_same_instant_the_patients_time_zone_decides_what_is_due(client, make, clinician, clock,
                                                                        timezone_name, due):
    patient = make.patient(clinician, timezone=timezone_name)
    assessment_assignment(patient, clinician, cadence_days=7, window_days=1, starts_on=date(2026, 11, 24))
    clock.set("2026-11-23T20:00:00+00:00")  # Kolkata 24th 01:30, Los Angeles 23rd 12:00

    response = client.get("/api/v1/me/assessments/due", headers=make.headers(patient))

    assert bool(response.json["due"]) is due
    assert response.json["today"] == ("2026-11-24" if due else "2026-11-23")


def test_a_patient_sees_only_their_own_due_questionnaires(client, make, clinician, auth):
    assessment_assignment(make.patient(clinician), clinician)

    response = client.get("/api/v1/me/assessments/due", headers=auth)

    assert response.json["due"] == [] and response.json["upcoming"] == []


def test_staff_have_no_questionnaires_of_their_own(client, clinician_auth, count):
    problem(client.get("/api/v1/me/assessments/due", headers=clinician_auth), 403)
    problem(client.get("/api/v1/me/assessments", headers=clinician_auth), 403)
    problem(client.post("/api/v1/me/assessments", headers=clinician_auth,
                        json={"assignment_id": 1, "answers": {}}), 403)
    assert count(AssessmentResponse) == 0


# --- answering ----------------------------------------------------------------------

def test_a_patient_answers_the_open_phq9_and_gets_the_score(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician)

    response = submit(client, auth, assignment, phq9_answers(11))

    assert response.status_code == 201, response.json
    body = response.json
    assert {k: body[k] for k in ("patient_id", "assignment_id", "instrument", "occurrence_on", "local_day",
                                 "total", "band", "item9", "crisis")} == {
        "patient_id": patient.id, "assignment_id": assignment.id, "instrument": "phq9",
        "occurrence_on": "2026-11-23", "local_day": "2026-11-23", "total": 11,
        "band": {"code": "moderate", "label": "Moderate"}, "item9": 0, "crisis": False,
    }
    assert body["change"]["from_previous"] is None and body["change"]["from_first"] is None
    assert body["change"]["threshold"] == 5
    assert "crisis_resources" not in body
    stored = db.session.get(AssessmentResponse, body["id"])
    assert (stored.total, stored.band, stored.occurrence_on, stored.answers) == (
        11, "moderate", date(2026, 11, 23), phq9_answers(11))


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_a_phq9_with_item_9_above_zero_returns_crisis_resources(client, clinician, patient, auth,
                                                                item9):
    assignment = assessment_assignment(patient, clinician)

    body = submit(client, auth, assignment, phq9_answers(4 + item9, item9=item9)).json

    assert body["crisis"] is True and body["item9"] == item9
    resources = body["crisis_resources"]
    assert resources["lifeline"] == {"name": "988 Suicide & Crisis Lifeline", "call": "988", "text": "988",
                                     "chat_url": "https://988lifeline.org"}
    assert resources["emergency_number"] == "911"
    assert resources["program"] == {"name": patient.organization.name, "phone": None}
    assert db.session.get(AssessmentResponse, body["id"]).crisis is True


def test_crisis_resources_carry_the_programs_own_crisis_line(client, clinician, patient, auth):
    patient.organization.crisis_phone = "+1 555 0100"
    db.session.commit()
    assignment = assessment_assignment(patient, clinician)

    body = submit(client, auth, assignment, phq9_answers(5, item9=1)).json

    assert body["crisis_resources"]["program"]["phone"] == "+1 555 0100"


def test_an_item_9_answer_raises_an_urgent_alert_for_the_care_team(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician)
    submit(client, auth, assignment, phq9_answers(5, item9=1))

    alerts = db.session.scalars(db.select(Alert).where(Alert.patient_id == patient.id)).all()
    assert [(a.rule, a.severity.value) for a in alerts] == [("phq9_item9", "urgent")]


def test_a_severe_phq9_with_item_9_at_zero_has_no_crisis_resources(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician)

    body = submit(client, auth, assignment, phq9_answers(24)).json

    assert body["band"]["code"] == "severe"
    assert body["crisis"] is False and "crisis_resources" not in body


def test_a_gad7_never_carries_crisis_resources(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician, "gad7")

    body = submit(client, auth, assignment, questionnaire_answers("gad7", default=3)).json

    assert (body["total"], body["band"]["code"], body["item9"], body["crisis"]) == (21, "severe", None, False)
    assert "crisis_resources" not in body


def test_a_bam_is_scored_by_subscales_without_a_total(client, clinician, patient, auth):
    assignment = assessment_assignment(patient, clinician, "bam", cadence_days=30, window_days=7)
    answers = questionnaire_answers("bam", {"4": 10, "5": 2, "7": []})

    body = submit(client, auth, assignment, answers).json

    assert body["total"] is None and body["band"] is None
    assert body["subscales"]["use"] == {"label": "Use", "score": 3 + 1, "range": [0, 12], "concern": True}
    assert body["change"]["subscales"]["use"] == {"from_previous": None, "from_first": None}


def test_change_from_previous_and_first_is_right_over_three_submissions(client, clinician, patient,
                                                                         auth, clock):
    assignment = assessment_assignment(patient, clinician, cadence_days=7, window_days=3)
    results = []
    for week, total in enumerate([20, 12, 14]):
        clock.set(f"2026-{11 if week < 2 else 12}-{[23, 30, 7][week]:02d}T17:00:00+00:00")
        results.append(submit(client, auth, assignment, phq9_answers(total)).json)

    assert [r["occurrence_on"] for r in results] == ["2026-11-23", "2026-11-30", "2026-12-07"]
    assert [(r["change"]["from_previous"], r["change"]["from_first"]) for r in results] == [
        (None, None), (-8, -8), (2, -6)]
    assert [(r["change"]["reliable_change_previous"], r["change"]["reliable_change_first"])
            for r in results] == [(None, None), ("improved", "improved"), ("no reliable change", "improved")]


@pytest.mark.parametrize("now, occurrence_on", [
    ("2026-11-23T05:00:00+00:00", "2026-11-23"),  # 00:00 in New York: first minute of the window
    ("2026-11-26T04:59:00+00:00", "2026-11-23"),  # 23:59 on the window's last day
])
def test_an_answer_is_accepted_from_the_first_to_the_last_minute_of_the_window(client, clinician, patient,
                                                                               auth, clock, now,
                                                                               occurrence_on):
    assignment = assessment_assignment(patient, clinician, cadence_days=7, window_days=3)
    clock.set(now)

    response = submit(client, auth, assignment)

    assert response.status_code == 201, response.json
    assert response.json["occurrence_on"] == occurrence_on


@pytest.mark.parametrize("now, next_opens", [
    ("2026-11-26T05:00:00+00:00", "2026-11-30"),  # 00:00 the day after the window
    ("2026-11-23T04:59:00+00:00", "2026-11-23"),  # 23:59 the day before the first occurrence
    ("2026-11-30T04:59:00+00:00", "2026-11-30"),  # 23:59 the day before the next
])
def test_an_answer_outside_the_window_is_refused_with_409_and_nothing_is_written(client, clinician, patient,
                                                                                auth, clock, count,
                                                                                now, next_opens):
    assignment = assessment_assignment(patient, clinician, cadence_days=7, window_days=3)
    clock.set(now)

    body = problem(submit(client, auth, assignment), 409)

    assert "not open today" in body["detail"] and next_opens in body["detail"]
    assert count(AssessmentResponse) == 0


def test_an_occurrence_already_answered_is_refused_with_409(client, clinician, patient, auth, clock):
    assignment = assessment_assignment(patient, clinician)
    submit(client, auth, assignment, phq9_answers(10))
    clock.advance(days=1)

    body = problem(submit(client, auth, assignment, phq9_answers(3)), 409)

    assert "already been answered" in body["detail"]
    assert stored_responses() == [(assignment.id, TODAY, 10)]


def test_two_phones_answering_at_once_get_one_answer_stored_and_a_409_not_a_500(
        client, clinician, patient, auth, monkeypatch):
    assignment = assessment_assignment(patient, clinician)
    submit(client, auth, assignment, phq9_answers(10))
    # The second phone checked a moment before the first one's row landed.
    monkeypatch.setattr(assessments, "_is_answered", lambda *_: False)

    body = problem(submit(client, auth, assignment, phq9_answers(3)), 409)

    assert "already been answered" in body["detail"]
    assert stored_responses() == [(assignment.id, TODAY, 10)]


def test_every_problem_with_the_answers_is_reported_at_once_per_item(client, clinician, patient,
                                                                      auth, count):
    assignment = assessment_assignment(patient, clinician)
    answers = phq9_answers(5)
    del answers["2"]
    answers.update({"3": 4, "4": True, "5": "1", "10": 0})

    body = problem(submit(client, auth, assignment, answers), 422)

    assert set(body["errors"]["answers"]) == {"2", "3", "4", "5", "10"}
    assert body["errors"]["answers"]["2"] == ["answer required"]
    assert count(AssessmentResponse) == 0


@pytest.mark.parametrize("payload, field", [
    ({"answers": {}}, "assignment_id"),
    ({"assignment_id": "1", "answers": {}}, "assignment_id"),
    ({"assignment_id": 0, "answers": {}}, "assignment_id"),
    ({"assignment_id": 1}, "answers"),
    ({"assignment_id": 1, "answers": [0, 1]}, "answers"),
    ({"assignment_id": 1, "answers": {str(n): 0 for n in range(51)}}, "answers"),
])
def test_a_malformed_submission_is_refused(client, auth, count, payload, field):
    body = problem(client.post("/api/v1/me/assessments", headers=auth, json=payload), 422)

    assert field in body["errors"]
    assert count(AssessmentResponse) == 0


def test_another_patients_assignment_is_404_and_nothing_is_written(client, make, clinician, auth,
                                                                   count):
    other = make.patient(clinician)
    assignment = assessment_assignment(other, clinician)

    body = problem(submit(client, auth, assignment), 404)

    assert count(AssessmentResponse) == 0
    assert_reveals_nothing(body, other)


def test_an_unknown_assignment_is_404(client, auth):
    problem(client.post("/api/v1/me/assessments", headers=auth,
                        json={"assignment_id": 999_999, "answers": {}}), 404)


# --- history ---------------------------------------------------------------------------

@pytest.fixture
def history(clinician, patient):
    """PHQ-9 totals 20, 12, 14 a week apart, and one GAD-7 between them."""
    assignment = assessment_assignment(patient, clinician, starts_on=date(2026, 11, 2))
    for day, total in ((2, 20), (9, 12), (16, 14)):
        when = datetime(2026, 11, day, 15, tzinfo=timezone.utc)
        assessment_response(patient, "phq9", phq9_answers(total), when, date(2026, 11, day),
                            assignment, date(2026, 11, day))
    assessment_response(patient, "gad7", questionnaire_answers("gad7", default=1),
                        datetime(2026, 11, 10, 15, tzinfo=timezone.utc), date(2026, 11, 10))
    return patient


def summary(response) -> list[tuple]:
    return [(r["instrument"], r["local_day"], r["total"], r["change"]["from_previous"], r["change"]["from_first"])
            for r in response.json["items"]]


def test_the_care_team_reads_the_history_newest_first_with_change(client, clinician_auth, history):
    response = client.get(f"/api/v1/patients/{history.id}/assessments", headers=clinician_auth)

    assert response.status_code == 200
    assert summary(response) == [
        ("phq9", "2026-11-16", 14, 2, -6),
        ("gad7", "2026-11-10", 7, None, None),
        ("phq9", "2026-11-09", 12, -8, -8),
        ("phq9", "2026-11-02", 20, None, None),
    ]
    assert response.json["total"] == 4
    item = response.json["items"][0]
    assert (item["band"], item["item9"], item["crisis"], item["subscales"]) == (
        {"code": "moderate", "label": "Moderate"}, 0, False, {})


def test_the_history_filters_by_instrument_without_changing_the_figures(client, clinician_auth, history):
    response = client.get(f"/api/v1/patients/{history.id}/assessments?instrument=phq9&page=1&page_size=2",
                          headers=clinician_auth)

    assert summary(response) == [("phq9", "2026-11-16", 14, 2, -6), ("phq9", "2026-11-09", 12, -8, -8)]
    assert (response.json["total"], response.json["page"], response.json["page_size"]) == (3, 1, 2)


def test_a_later_page_still_compares_with_earlier_responses(client, clinician_auth, history):
    response = client.get(f"/api/v1/patients/{history.id}/assessments?instrument=phq9&page=2&page_size=2",
                          headers=clinician_auth)

    assert summary(response) == [("phq9", "2026-11-02", 20, None, None)]


def test_an_admin_reads_the_history(client, make, history):
    auth = make.headers(make.admin(history.organization))

    assert client.get(f"/api/v1/patients/{history.id}/assessments", headers=auth).json["total"] == 4


def test_the_patient_reads_their_own_history(client, auth, history):
    response = client.get("/api/v1/me/assessments?instrument=gad7", headers=auth)

    assert response.status_code == 200
    assert summary(response) == [("gad7", "2026-11-10", 7, None, None)]
    assert client.get(f"/api/v1/patients/{history.id}/assessments", headers=auth).json["total"] == 4


@pytest.mark.parametrize("outsider", OUTSIDERS)
def test_the_history_is_404_to_anyone_out_of_reach(client, make, history, outsider):
    user = outsiders(make, history)[outsider]

    body = problem(client.get(f"/api/v1/patients/{history.id}/assessments", headers=make.headers(user)), 404)

    assert_reveals_nothing(body, history)
    assert "items" not in body


def test_another_patients_history_never_shows_in_mine(client, make, history):
    response = client.get("/api/v1/me/assessments", headers=make.headers(make.patient()))

    assert response.json == {"items": [], "total": 0, "page": 1, "page_size": 50}


@pytest.mark.parametrize("query, field", [
    ("instrument=beck", "instrument"), ("page=0", "page"), ("page_size=201", "page_size"),
])
def test_a_bad_history_query_is_refused(client, clinician_auth, history, query, field):
    response = client.get(f"/api/v1/patients/{history.id}/assessments?{query}", headers=clinician_auth)

    assert field in problem(response, 422)["errors"]


# --- races (PostgreSQL: SQLite serialises writers, so they cannot interleave) -----------

def race(app, monkeypatch, module, name: str, *requests):
    """Run the requests in threads that all pass module.<name> before any goes on."""
    barrier = threading.Barrier(len(requests), timeout=10)
    original = getattr(module, name)

    def held(*args, **kwargs):
        result = original(*args, **kwargs)
        barrier.wait()
        return result

    monkeypatch.setattr(module, name, held)
    responses = [None] * len(requests)

    def run(position, request):
        responses[position] = request(app.test_client())

    threads = [threading.Thread(target=run, args=(n, r)) for n, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return sorted(response.status_code for response in responses)


def test_two_phones_submitting_the_same_occurrence_at_once_store_one_answer(
        app, postgres_only, clinician, patient, auth, monkeypatch):
    assignment_id = assessment_assignment(patient, clinician).id

    def send(total):
        body = {"assignment_id": assignment_id, "answers": phq9_answers(total)}
        return lambda c: c.post("/api/v1/me/assessments", headers=auth, json=body)

    statuses = race(app, monkeypatch, assessments, "_is_answered", send(10), send(3))

    assert statuses == [201, 409]
    assert len(stored_responses()) == 1


def test_two_clinicians_assigning_the_same_instrument_at_once_make_one_assignment(
        app, postgres_only, make, clinician, clinician_auth, patient, monkeypatch, count):
    colleague = make.clinician(patient.organization)
    make.add_to_care_team(patient, colleague)
    colleague_auth = make.headers(colleague)
    url = assignments_url(patient.id)
    send = lambda auth: lambda c: c.post(url, headers=auth, json=order())  # noqa: E731

    # Both have passed the access check and computed the patient's today before either looks for an active one.
    statuses = race(app, monkeypatch, assessment_schedule, "_check_schedule", send(clinician_auth),
                    send(colleague_auth))

    assert statuses == [201, 409]
    assert count(AssessmentAssignment) == 1
