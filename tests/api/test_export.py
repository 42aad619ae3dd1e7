"""A patient's own export, disclosures outside the program, and the accounting of disclosures."""
import csv
import io
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from models import Disclosure, Role, db
from services.redisclosure import REDISCLOSURE_NOTICE
from tests.factories import (
    assessment_response,
    create_consent,
    create_goal,
    create_session,
    problem,
    questionnaire_answers,
)
from tests.services.test_fhir_export import assert_valid_r4

SUBMITTED = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)


@pytest.fixture
def patient(make, clinician):
    """A patient with two check-ins, a PHQ-9, a goal and a session."""
    patient = make.patient(clinician, name="Jordan Quill")
    make.checkin(patient, date(2026, 11, 22), craving=6, mood=4, sleep_hours=5.5, sleep_quality=2,
                 used_substance=True, substances=["alcohol", "opioids"],
                 coping_skills=["urge_surfing", "journaling"], custom_coping_skills=["=SUM(A1)", "walk; talk"],
                 triggers=["stress"], medication_taken=False, self_harm_thoughts=False,
                 note="-rough, after the party")
    make.checkin(patient, date(2026, 11, 21), coping_skills=[], triggers=[], note=None)
    assessment_response(patient, "phq9", questionnaire_answers("phq9", {"1": 2, "9": 1}), SUBMITTED,
                        date(2026, 11, 20))
    create_goal(patient, date(2026, 11, 16), "Two meetings",
                done_at=datetime(2026, 11, 19, 1, 0, tzinfo=timezone.utc))
    create_session(patient, date(2026, 11, 18), clinician, note="quiet in group; ask about home")
    return patient


def disclosures_stored() -> list[tuple]:
    return [(d.patient_id, d.consent_id, d.disclosed_by_id, d.recipient_name, d.purpose, d.data_format)
            for d in db.session.scalars(select(Disclosure).order_by(Disclosure.id))]


# --- the patient's own export ---------------------------------------------------------

def test_the_json_export_holds_the_whole_record_with_the_notice(client, auth, patient):
    response = client.get("/api/v1/me/export", headers=auth)

    assert response.status_code == 200, response.json
    assert response.mimetype == "application/json"
    document = response.json
    assert document["generated_at"] == "2026-11-23T17:00:00+00:00"
    assert document["notice"] == REDISCLOSURE_NOTICE
    assert "your own copy" in document["notice_context"]
    assert document["disclosure"] is None
    assert document["patient"] == {
        "id": patient.id, "display_name": "Jordan Quill", "email": patient.email,
        "timezone": "America/New_York", "organization": patient.organization.name, "program": None,
        "level_of_care": "iop", "recovery_start_date": None, "enrolled_at": "2026-11-23T17:00:00+00:00",
    }
    assert [(c["date"], c["craving"], c["note"]) for c in document["checkins"]] == [
        ("2026-11-21", 3, None), ("2026-11-22", 6, "-rough, after the party")]
    [phq9] = document["questionnaires"]
    assert (phq9["instrument"], phq9["total"], phq9["band"], phq9["item9"], phq9["crisis"]) == (
        "phq9", 3, {"code": "minimal", "label": "Minimal"}, 1, True)
    assert phq9["items"][0] == {"id": "1", "text": "Little interest or pleasure in doing things",
                                "answer": 2, "label": "More than half the days", "points": 2}
    assert len(phq9["items"]) == 9
    assert document["goals"] == [{"week_start": "2026-11-16", "text": "Two meetings", "done": True,
                                  "done_at": "2026-11-19T01:00:00+00:00"}]
    assert document["attendance"] == [{"session_date": "2026-11-18", "kind": "group", "status": "attended",
                                       "hours": 3.0}]
    assert "ask about home" not in response.get_data(as_text=True), "the clinician's note stays in the program"


def test_the_csv_export_is_one_row_per_day_as_an_attachment(client, auth):
    response = client.get("/api/v1/me/export?format=csv", headers=auth)

    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="waypoint-records-2026-11-23.csv"'
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == (
        "date,craving,mood,sleep_hours,sleep_quality,used_substance,substances,coping_skills,"
        "custom_coping_skills,triggers,medication_taken,self_harm_thoughts,note,late,recorded_at")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["date"] for row in rows] == ["2026-11-21", "2026-11-22"]
    assert rows[0] == {
        "date": "2026-11-21", "craving": "3", "mood": "6", "sleep_hours": "7.5", "sleep_quality": "",
        "used_substance": "false", "substances": "", "coping_skills": "", "custom_coping_skills": "",
        "triggers": "", "medication_taken": "", "self_harm_thoughts": "", "note": "", "late": "false",
        "recorded_at": "2026-11-23T17:00:00+00:00"}
    day = rows[1]
    assert (day["sleep_hours"], day["sleep_quality"], day["used_substance"]) == ("5.5", "2", "true")
    assert day["substances"] == "alcohol;opioids"
    assert day["coping_skills"] == "journaling;urge_surfing"
    assert day["triggers"] == "stress"
    assert (day["medication_taken"], day["self_harm_thoughts"]) == ("false", "false")
    # Free text a spreadsheet would run as a formula is defused; ";" inside an entry cannot split it.
    assert day["custom_coping_skills"] == "'=SUM(A1);walk, talk"
    assert day["note"] == "'-rough, after the party"


def test_the_fhir_export_is_a_valid_bundle(client, auth, patient):
    response = client.get("/api/v1/me/export?format=fhir", headers=auth)

    assert response.status_code == 200
    assert response.mimetype == "application/fhir+json"
    bundle = response.get_json(force=True)
    assert_valid_r4(bundle)
    assert bundle["meta"]["extension"][0]["valueString"] == REDISCLOSURE_NOTICE
    assert patient.email not in response.get_data(as_text=True)


def test_an_empty_record_exports_in_every_format(client, make):
    auth = make.headers(make.patient())

    document = client.get("/api/v1/me/export", headers=auth).json
    rows = client.get("/api/v1/me/export?format=csv", headers=auth).get_data(as_text=True).splitlines()
    bundle = client.get("/api/v1/me/export?format=fhir", headers=auth).get_json(force=True)

    assert (document["checkins"], document["questionnaires"], document["goals"]) == ([], [], [])
    assert len(rows) == 1
    assert_valid_r4(bundle)


@pytest.mark.parametrize("query", ["format=xml", "format=", "format=JSON", "format=fhir4"])
def test_an_unknown_format_is_refused(client, auth, query):
    body = problem(client.get(f"/api/v1/me/export?{query}", headers=auth), 422)

    assert "format" in body["errors"]


def test_the_export_holds_only_the_callers_records(client, make, patient):
    other = make.patient()
    make.checkin(other, date(2026, 11, 22), note="someone else's day")

    text = client.get("/api/v1/me/export?format=csv", headers=make.headers(other)).get_data(as_text=True)

    assert "after the party" not in text and "someone else's day" in text


# --- disclosures outside the program --------------------------------------------------

@pytest.fixture
def consent(patient):
    return create_consent(patient, recipient_name="Dr. Ana Rivera", purpose="Coordinate medication care",
                          expires_at=datetime(2027, 5, 1, tzinfo=timezone.utc))


def disclose(client, make, who, patient_id, body):
    return client.post(f"/api/v1/patients/{patient_id}/disclosures", headers=make.headers(who), json=body)


def test_the_care_team_discloses_under_an_active_consent_with_the_notice(client, make, clinician, patient, consent):
    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})

    assert response.status_code == 201, response.json
    envelope = response.json
    assert envelope["notice"] == REDISCLOSURE_NOTICE
    assert envelope["consent"]["id"] == consent.id and envelope["consent"]["status"] == "active"
    assert envelope["consent_scope"].startswith(
        "Disclosed with the patient's written consent of 2026-11-01 to Dr. Ana Rivera (physician)")
    assert (envelope["format"], envelope["content_type"]) == ("json", "application/json")
    disclosure = envelope["disclosure"]
    assert disclosure == {
        "id": disclosure["id"], "consent_id": consent.id, "disclosed_at": "2026-11-23T17:00:00+00:00",
        "disclosed_by": clinician.display_name, "recipient_name": "Dr. Ana Rivera",
        "recipient_kind": "physician", "purpose": "Coordinate medication care", "format": "json",
        "description": "JSON: profile, 2 daily check-ins (2026-11-21 to 2026-11-22), 1 questionnaire "
                       "response (PHQ-9 x1) with scores, 1 weekly goal, 1 attendance record.",
    }
    document = envelope["document"]
    assert document["notice"] == REDISCLOSURE_NOTICE
    assert document["disclosure"]["id"] == disclosure["id"]
    assert document["disclosure"]["consent_scope"] == envelope["consent_scope"]
    assert "email" not in document["patient"] and "timezone" not in document["patient"]
    assert patient.email not in response.get_data(as_text=True)
    assert len(document["checkins"]) == 2
    assert disclosures_stored() == [(patient.id, consent.id, clinician.id, "Dr. Ana Rivera",
                                     "Coordinate medication care", "json")]


def test_a_fhir_disclosure_is_a_valid_bundle_carrying_notice_and_consent(client, make, clinician, patient, consent):
    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "fhir"})

    assert response.status_code == 201, response.json
    bundle = response.json["document"]
    assert_valid_r4(bundle)
    assert [ext["valueString"] for ext in bundle["meta"]["extension"]] == [
        REDISCLOSURE_NOTICE, response.json["consent_scope"]]
    assert response.json["content_type"] == "application/fhir+json"
    assert response.json["disclosure"]["description"].startswith("FHIR R4 Bundle: patient name, 2 daily check-ins")


def test_a_csv_disclosure_holds_the_check_ins_and_says_so(client, make, clinician, patient, consent):
    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "csv"})

    assert response.status_code == 201, response.json
    assert response.json["content_type"] == "text/csv"
    assert response.json["filename"].endswith(".csv")
    assert len(response.json["document"].splitlines()) == 3
    assert response.json["disclosure"]["description"] == "CSV: 2 daily check-ins (2026-11-21 to 2026-11-22)."


def test_the_organizations_admin_may_disclose(client, make, patient, consent):
    admin = make.admin(patient.organization)

    response = disclose(client, make, admin, patient.id, {"consent_id": consent.id, "format": "json"})

    assert response.status_code == 201, response.json
    assert disclosures_stored()[0][2] == admin.id


def test_a_support_person_consent_allows_a_disclosure_too(client, make, clinician, patient):
    consent = create_consent(patient, scope="support_person", recipient_name="Sam Quill",
                             recipient_kind="family_member", purpose="Support at home")

    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})

    assert response.status_code == 201
    assert response.json["disclosure"]["recipient_kind"] == "family_member"


@pytest.mark.parametrize("state, expected", [
    ({"revoked_at": datetime(2026, 11, 10, tzinfo=timezone.utc)}, "The patient revoked this consent on 2026-11-10"),
    ({"expires_at": datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)}, "This consent expired on 2026-11-23"),
    ({"expires_at": datetime(2027, 1, 1, tzinfo=timezone.utc),
      "revoked_at": datetime(2026, 11, 22, tzinfo=timezone.utc)}, "The patient revoked this consent"),
])
def test_without_an_active_consent_nothing_is_disclosed(client, make, clinician, patient, state, expected):
    consent = create_consent(patient, **state)

    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})

    body = problem(response, 409)
    assert body["detail"].startswith(expected) and "nothing was disclosed" in body["detail"]
    assert "Jordan" not in response.get_data(as_text=True)
    assert disclosures_stored() == []


def test_a_stored_care_team_consent_is_no_ground_to_disclose_outside(client, make, clinician, patient):
    consent = create_consent(patient, scope="care_team", recipient_kind="care_team")

    body = problem(disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"}), 409)

    assert "not a disclosure outside" in body["detail"]
    assert disclosures_stored() == []


def test_another_patients_consent_is_no_consent_at_all(client, make, clinician, patient):
    other = make.patient(clinician)
    consent = create_consent(other)

    response = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})
    missing = disclose(client, make, clinician, patient.id, {"consent_id": 99_999, "format": "json"})

    body = problem(response, 422)
    assert body["errors"] == {"consent_id": ["This patient has no consent with this id; nothing was disclosed."]}
    assert problem(missing, 422) == body
    assert disclosures_stored() == []


@pytest.mark.parametrize("body, fields", [
    ({}, {"consent_id", "format"}),
    ({"format": "json"}, {"consent_id"}),
    ({"consent_id": 1}, {"format"}),
    ({"consent_id": "1", "format": "json"}, {"consent_id"}),
    ({"consent_id": True, "format": "json"}, {"consent_id"}),
    ({"consent_id": 0, "format": "json"}, {"consent_id"}),
    ({"consent_id": 1, "format": "pdf"}, {"format"}),
    ({"consent_id": 1, "format": "json", "recipient": "anyone"}, {"recipient"}),
])
def test_a_bad_disclosure_request_is_refused_per_field(client, make, clinician, patient, consent, body, fields):
    response = disclose(client, make, clinician, patient.id, body)

    assert set(problem(response, 422)["errors"]) == fields
    assert disclosures_stored() == []


OUTSIDERS = ["a clinician not on the care team", "a clinician of another organization",
             "an admin of another organization", "another patient", "a patient of another organization"]


@pytest.fixture
def outsiders(make, patient):
    elsewhere = make.organization()
    return {
        "a clinician not on the care team": make.clinician(patient.organization),
        "a clinician of another organization": make.clinician(elsewhere),
        "an admin of another organization": make.admin(elsewhere),
        "another patient": make.patient(organization=patient.organization),
        "a patient of another organization": make.patient(organization=elsewhere),
    }


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_patient_out_of_reach_cannot_be_disclosed(client, make, patient, consent, outsiders, who):
    response = disclose(client, make, outsiders[who], patient.id, {"consent_id": consent.id, "format": "json"})
    missing = disclose(client, make, outsiders[who], 99_999, {"consent_id": consent.id, "format": "json"})

    body = problem(response, 404)
    assert body == problem(missing, 404) and body["detail"] == "No such patient."
    assert "Rivera" not in response.get_data(as_text=True)
    assert disclosures_stored() == []


def test_a_patient_cannot_disclose_through_the_staff_route(client, make, patient, consent):
    problem(disclose(client, make, patient, patient.id, {"consent_id": consent.id, "format": "json"}), 403)

    assert disclosures_stored() == []


# --- the accounting of disclosures ------------------------------------------------------

def test_the_patient_reads_every_disclosure_newest_first(client, make, clinician, patient, consent, auth, clock):
    disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "csv"})
    clock.advance(days=1)
    disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "fhir"})

    response = client.get("/api/v1/me/disclosures", headers=auth)

    assert response.status_code == 200, response.json
    assert response.json["total"] == 2 and (response.json["page"], response.json["page_size"]) == (1, 50)
    assert [(d["disclosed_at"], d["format"], d["recipient_name"], d["purpose"], d["disclosed_by"])
            for d in response.json["items"]] == [
        ("2026-11-24T17:00:00+00:00", "fhir", "Dr. Ana Rivera", "Coordinate medication care", clinician.display_name),
        ("2026-11-23T17:00:00+00:00", "csv", "Dr. Ana Rivera", "Coordinate medication care", clinician.display_name),
    ]
    second_page = client.get("/api/v1/me/disclosures?page=2&page_size=1", headers=auth).json
    assert [d["format"] for d in second_page["items"]] == ["csv"]


def test_a_revoked_consent_keeps_its_disclosures_in_the_accounting(client, make, clinician, patient, consent, auth):
    disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})
    client.post(f"/api/v1/me/consents/{consent.id}/revoke", headers=auth)

    refused = disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})

    problem(refused, 409)
    items = client.get("/api/v1/me/disclosures", headers=auth).json["items"]
    assert [d["consent_id"] for d in items] == [consent.id]


def test_a_patient_sees_only_their_own_disclosures(client, make, clinician, patient, consent):
    disclose(client, make, clinician, patient.id, {"consent_id": consent.id, "format": "json"})
    other = make.patient(clinician)

    response = client.get("/api/v1/me/disclosures", headers=make.headers(other))

    assert response.json["items"] == [] and response.json["total"] == 0


@pytest.mark.parametrize("query", ["page=0", "page_size=500", "page=x"])
def test_a_bad_page_of_disclosures_is_refused(client, auth, query):
    problem(client.get(f"/api/v1/me/disclosures?{query}", headers=auth), 422)


# --- who may use these routes ---------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/me/export", "/api/v1/me/export?format=fhir", "/api/v1/me/disclosures"])
@pytest.mark.parametrize("role", [Role.clinician, Role.admin])
def test_staff_have_no_records_of_their_own_to_export(client, make, path, role):
    problem(client.get(path, headers=make.headers(make.staff(role))), 403)


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/me/export"), ("GET", "/api/v1/me/disclosures"),
    ("POST", "/api/v1/patients/1/disclosures"),
])
def test_every_export_route_needs_a_token(client, app, method, path):
    response = client.open(path, method=method, json={"consent_id": 1, "format": "json"})

    problem(response, 401)
    assert disclosures_stored() == []
