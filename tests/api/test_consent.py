"""Consent (42 CFR Part 2): the care team by enrolment, everyone else by an explicit, revocable consent."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from api.extensions import api
from models import Consent, Program, Role, db
from services.consent import RECIPIENT_KINDS
from tests.factories import create_consent, problem

NOW = "2026-11-23T17:00:00+00:00"
GRANT = {"scope": "outside_provider", "recipient_name": "Dr. Ana Rivera, Eastside Family Medicine",
         "recipient_kind": "physician", "purpose": "Coordinate medication for opioid use disorder"}


def consents_stored() -> list[tuple]:
    return [(c.patient_id, c.scope.value, c.recipient_name, c.revoked_at) for c in db.session.scalars(
        select(Consent).order_by(Consent.id).execution_options(populate_existing=True))]


# --- the overview -------------------------------------------------------------------

def test_a_new_patient_has_only_the_care_team_consent_of_enrolment(client, auth, patient):
    response = client.get("/api/v1/me/consent", headers=auth)

    assert response.status_code == 200, response.json
    organization = patient.organization.name
    assert response.json == {
        "patient_id": patient.id,
        "care_team": {
            "id": None, "scope": "care_team", "recipient_name": f"Care team at {organization}",
            "recipient_kind": "care_team",
            "purpose": "Treatment and care coordination by your care team at your program",
            "granted_at": NOW, "expires_at": None, "revoked_at": None, "status": "active",
            "revocable": False,
        },
        "outside_program": [],
    }
    assert consents_stored() == [], "the care-team consent is synthesized, not stored"


def test_the_overview_shows_every_consent_outside_the_program_with_its_status(client, auth, patient, clock):
    create_consent(patient, recipient_name="Dr. Old", granted_at=datetime(2026, 9, 1, tzinfo=timezone.utc),
                   revoked_at=datetime(2026, 10, 1, tzinfo=timezone.utc))
    create_consent(patient, scope="support_person", recipient_name="Sam (sister)",
                   recipient_kind="family_member", granted_at=datetime(2026, 10, 1, tzinfo=timezone.utc),
                   expires_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
    create_consent(patient, recipient_name="Dr. New", granted_at=datetime(2026, 11, 20, tzinfo=timezone.utc),
                   expires_at=datetime(2027, 5, 1, tzinfo=timezone.utc))

    outside = client.get("/api/v1/me/consent", headers=auth).json["outside_program"]

    assert [(c["recipient_name"], c["status"], c["revocable"]) for c in outside] == [
        ("Dr. New", "active", True), ("Sam (sister)", "expired", True), ("Dr. Old", "revoked", False)]
    assert outside[1]["expires_at"] == "2026-11-01T00:00:00+00:00"
    assert outside[2]["revoked_at"] == "2026-10-01T00:00:00+00:00"


def test_a_consent_expires_at_its_expiry(client, auth, patient, clock):
    create_consent(patient, expires_at=datetime(2026, 11, 24, 17, 0, tzinfo=timezone.utc))

    before = client.get("/api/v1/me/consent", headers=auth).json["outside_program"][0]["status"]
    clock.set("2026-11-24T17:00:00+00:00")
    after = client.get("/api/v1/me/consent", headers=auth).json["outside_program"][0]["status"]

    assert (before, after) == ("active", "expired")


def test_the_care_team_consent_names_the_program(client, make, clock):
    organization = make.organization("Harbor Recovery")
    program = Program(organization_id=organization.id, name="Evening IOP")
    db.session.add(program)
    db.session.commit()
    patient = make.patient(organization=organization)
    patient.patient_profile.program_id = program.id
    db.session.commit()

    care_team = client.get("/api/v1/me/consent", headers=make.headers(patient)).json["care_team"]

    assert care_team["recipient_name"] == "Care team at Harbor Recovery (Evening IOP)"


# --- granting -----------------------------------------------------------------------

def test_a_patient_consents_to_share_with_an_outside_provider(client, auth, patient):
    response = client.post("/api/v1/me/consents", headers=auth,
                           json={**GRANT, "expires_at": "2027-05-23T12:00:00-05:00"})

    assert response.status_code == 201, response.json
    assert response.json == {
        "id": response.json["id"], "scope": "outside_provider",
        "recipient_name": "Dr. Ana Rivera, Eastside Family Medicine", "recipient_kind": "physician",
        "purpose": "Coordinate medication for opioid use disorder", "granted_at": NOW,
        "expires_at": "2027-05-23T17:00:00+00:00", "revoked_at": None, "status": "active",
        "revocable": True,
    }
    assert consents_stored() == [(patient.id, "outside_provider", GRANT["recipient_name"], None)]
    overview = client.get("/api/v1/me/consent", headers=auth).json
    assert [c["id"] for c in overview["outside_program"]] == [response.json["id"]]


def test_a_support_person_consent_without_expiry_lasts_until_revoked(client, auth):
    response = client.post("/api/v1/me/consents", headers=auth, json={
        "scope": "support_person", "recipient_name": "  Sam Quill ", "recipient_kind": "family_member",
        "purpose": "Weekly progress, so my sister can support me"})

    assert response.status_code == 201, response.json
    assert response.json["recipient_name"] == "Sam Quill"
    assert response.json["expires_at"] is None and response.json["status"] == "active"


BAD_GRANTS = [
    ({"scope": "care_team"}, "scope"),
    ({"scope": "everyone"}, "scope"),
    ({"scope": None}, "scope"),
    ({"recipient_name": ""}, "recipient_name"),
    ({"recipient_name": "   "}, "recipient_name"),
    ({"recipient_name": "Dr. A\nRivera"}, "recipient_name"),
    ({"recipient_name": "x" * 201}, "recipient_name"),
    ({"recipient_name": 7}, "recipient_name"),
    ({"recipient_kind": ""}, "recipient_kind"),
    ({"recipient_kind": "x" * 41}, "recipient_kind"),
    ({"recipient_kind": "sponsor"}, "recipient_kind"),  # a support person's kind, for a provider
    ({"purpose": ""}, "purpose"),
    ({"purpose": "x" * 301}, "purpose"),
    ({"purpose": "bad\x00byte"}, "purpose"),
    ({"expires_at": "2026-11-23T16:59:59+00:00"}, "expires_at"),  # already past
    ({"expires_at": "2027-01-01T00:00:00"}, "expires_at"),  # no UTC offset
    ({"expires_at": "next year"}, "expires_at"),
    ({"expires_at": 1893456000}, "expires_at"),
    ({"shared_with": "everyone"}, "shared_with"),
]


@pytest.mark.parametrize("change, field", BAD_GRANTS)
def test_a_bad_consent_is_refused_per_field_and_nothing_is_stored(client, auth, change, field):
    response = client.post("/api/v1/me/consents", headers=auth, json={**GRANT, **change})

    body = problem(response, 422)
    assert field in body["errors"], body
    assert consents_stored() == []


@pytest.mark.parametrize("missing", ["scope", "recipient_name", "recipient_kind", "purpose"])
def test_every_part_of_a_consent_but_its_expiry_is_required(client, auth, missing):
    grant = {key: value for key, value in GRANT.items() if key != missing}

    body = problem(client.post("/api/v1/me/consents", headers=auth, json=grant), 422)

    assert list(body["errors"]) == [missing]
    assert consents_stored() == []


def test_every_problem_with_a_consent_is_reported_at_once(client, auth):
    body = problem(client.post("/api/v1/me/consents", headers=auth, json={
        "scope": "care_team", "recipient_name": "", "recipient_kind": "physician", "purpose": ""}), 422)

    assert set(body["errors"]) == {"scope", "recipient_name", "purpose"}


def test_a_consent_body_must_be_json_object(client, auth):
    problem(client.post("/api/v1/me/consents", headers=auth, json=["not", "an", "object"]), 422)
    assert consents_stored() == []


def test_the_recipient_kinds_documented_are_the_ones_accepted(app):
    described = api.spec.to_dict()["components"]["schemas"]["ConsentGrant"]["properties"][
        "recipient_kind"]["description"]

    for scope, kinds in RECIPIENT_KINDS.items():
        assert scope.value in described
        assert all(kind in described for kind in kinds)


# --- revoking -----------------------------------------------------------------------

def test_revoking_a_consent_keeps_it_on_record_dated(client, auth, patient, clock):
    consent_id = client.post("/api/v1/me/consents", headers=auth, json=GRANT).json["id"]
    clock.advance(days=2)

    response = client.post(f"/api/v1/me/consents/{consent_id}/revoke", headers=auth)

    assert response.status_code == 200, response.json
    assert response.json["revoked_at"] == "2026-11-25T17:00:00+00:00"
    assert response.json["status"] == "revoked" and response.json["revocable"] is False
    assert consents_stored() == [(patient.id, "outside_provider", GRANT["recipient_name"],
                                  datetime(2026, 11, 25, 17, 0, tzinfo=timezone.utc))]


def test_revoking_twice_is_a_conflict_that_keeps_the_first_date(client, auth, clock):
    consent_id = client.post("/api/v1/me/consents", headers=auth, json=GRANT).json["id"]
    client.post(f"/api/v1/me/consents/{consent_id}/revoke", headers=auth)
    clock.advance(days=1)

    again = client.post(f"/api/v1/me/consents/{consent_id}/revoke", headers=auth)

    body = problem(again, 409)
    assert body["detail"] == "This consent was already revoked on 2026-11-23."
    assert consents_stored()[0][3] == datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)


def test_an_expired_consent_can_still_be_revoked(client, auth, patient):
    consent = create_consent(patient, expires_at=datetime(2026, 11, 2, tzinfo=timezone.utc))

    response = client.post(f"/api/v1/me/consents/{consent.id}/revoke", headers=auth)

    assert response.status_code == 200 and response.json["status"] == "revoked"


def test_the_care_team_consent_cannot_be_revoked_in_the_app(client, auth):
    response = client.post("/api/v1/me/consents/care-team/revoke", headers=auth)

    body = problem(response, 409)
    assert "part of your treatment" in body["detail"] and "talk to your program" in body["detail"]
    assert consents_stored() == []


def test_a_stored_care_team_consent_cannot_be_revoked_either(client, auth, patient):
    consent = create_consent(patient, scope="care_team", recipient_kind="care_team")

    body = problem(client.post(f"/api/v1/me/consents/{consent.id}/revoke", headers=auth), 409)

    assert "talk to your program" in body["detail"]
    assert consents_stored()[0][3] is None


def test_another_patients_consent_is_not_found_and_stays_as_it_was(client, auth, make):
    other = make.patient()
    consent = create_consent(other)

    body = problem(client.post(f"/api/v1/me/consents/{consent.id}/revoke", headers=auth), 404)
    missing = problem(client.post("/api/v1/me/consents/99999/revoke", headers=auth), 404)

    assert body == missing
    assert consents_stored() == [(other.id, "outside_provider", "Dr. Ana Rivera", None)]


# --- who may use these routes ---------------------------------------------------------

PATIENT_ROUTES = [
    ("GET", "/api/v1/me/consent", None),
    ("POST", "/api/v1/me/consents", GRANT),
    ("POST", "/api/v1/me/consents/1/revoke", None),
    ("POST", "/api/v1/me/consents/care-team/revoke", None),
]


@pytest.mark.parametrize("method, path, body", PATIENT_ROUTES)
@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_staff_have_no_consents_of_their_own(client, make, method, path, body, role):
    staff = make.staff(Role(role))

    problem(client.open(path, method=method, headers=make.headers(staff), json=body), 403)
    assert consents_stored() == []


ALL_ROUTES = [*PATIENT_ROUTES, ("GET", "/api/v1/patients/1/consents", None)]


@pytest.mark.parametrize("method, path, body", ALL_ROUTES)
def test_every_consent_route_needs_a_token(client, app, method, path, body):
    response = client.open(path, method=method, json=body)

    problem(response, 401)


class Clinic:
    """A patient with a consent, their care team, and everyone who must not see them."""

    def __init__(self, make):
        organization = make.organization()
        self.clinician = make.clinician(organization)
        self.admin = make.admin(organization)
        self.patient = make.patient(self.clinician, name="Jordan Quill")
        self.consent = create_consent(self.patient, recipient_name="Dr. Secret Rivera")
        elsewhere = make.organization()
        people = {
            "a clinician not on the care team": make.clinician(organization),
            "a clinician of another organization": make.clinician(elsewhere),
            "an admin of another organization": make.admin(elsewhere),
            "another patient": make.patient(self.clinician),
            "a patient of another organization": make.patient(organization=elsewhere),
            "the care team's clinician": self.clinician,
            "the organization's admin": self.admin,
            "the patient": self.patient,
        }
        self.headers = {who: make.headers(user) for who, user in people.items()}


@pytest.fixture
def clinic(make):
    return Clinic(make)


OUTSIDERS = ["a clinician not on the care team", "a clinician of another organization",
             "an admin of another organization", "another patient", "a patient of another organization"]


@pytest.mark.parametrize("who", ["the care team's clinician", "the organization's admin"])
def test_the_care_team_and_the_admin_see_a_patients_consents(client, clinic, who):
    response = client.get(f"/api/v1/patients/{clinic.patient.id}/consents", headers=clinic.headers[who])

    assert response.status_code == 200, response.json
    assert response.json["care_team"]["scope"] == "care_team"
    assert [(c["id"], c["recipient_name"], c["status"]) for c in response.json["outside_program"]] == [
        (clinic.consent.id, "Dr. Secret Rivera", "active")]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_patients_consents_out_of_reach_are_not_found(client, clinic, who):
    response = client.get(f"/api/v1/patients/{clinic.patient.id}/consents", headers=clinic.headers[who])
    missing = client.get("/api/v1/patients/99999/consents", headers=clinic.headers[who])

    body = problem(response, 404)
    assert body == problem(missing, 404)
    assert "Jordan" not in response.get_data(as_text=True) and "Secret" not in response.get_data(as_text=True)


def test_a_patient_uses_their_own_overview_not_the_staff_view(client, clinic):
    response = client.get(f"/api/v1/patients/{clinic.patient.id}/consents", headers=clinic.headers["the patient"])

    problem(response, 403)
