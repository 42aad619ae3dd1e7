"""Object-level access: out of reach is indistinguishable from not there (404)."""
from datetime import date

import pytest
from sqlalchemy import select

from models import CareTeamMember, Invite, LevelOfCareChange, db
from tests.factories import checkin_body, problem

# Every route that names a patient: (method, path, body).
PATIENT_ROUTES = {
    "record": ("GET", "/api/v1/patients/{id}", None),
    "checkins": ("GET", "/api/v1/patients/{id}/checkins", None),
    "care team": ("PUT", "/api/v1/patients/{id}/care-team", {"clinician_ids": ["{colleague}"]}),
    "level of care": ("POST", "/api/v1/patients/{id}/level-of-care", {"level_of_care": "php"}),
    "invite": ("POST", "/api/v1/patients/{id}/invite", None),
}


class Clinic:
    """One patient with a care team, and everyone who must not see them."""

    def __init__(self, make):
        organization = make.organization()
        self.clinician = make.clinician(organization)
        self.colleague = make.clinician(organization)
        self.admin = make.admin(organization)
        # Unregistered, so an invite may still be reissued.
        self.patient = make.patient(self.clinician, registered=False, name="Jordan Quill")
        self.patient_id = self.patient.id
        self.patient_email = self.patient.email
        make.checkin(self.patient, date(2026, 11, 22), note="slept badly after the party")
        self.fellow_patient = make.patient(self.clinician)
        elsewhere = make.organization()
        self.people = {
            "a clinician not on the care team": self.colleague,
            "a clinician of another organization": make.clinician(elsewhere),
            "an admin of another organization": make.admin(elsewhere),
            "another patient": self.fellow_patient,
            "a patient of another organization": make.patient(organization=elsewhere),
            "the care team's clinician": self.clinician,
            "the organization's admin": self.admin,
        }
        self.headers = {who: make.headers(user) for who, user in self.people.items()}
        self.colleague_id = self.colleague.id

    def request(self, client, route, who, patient_id=None):
        method, path, body = PATIENT_ROUTES[route]
        if body and "clinician_ids" in body:
            body = {"clinician_ids": [self.colleague_id]}
        return client.open(path.format(id=patient_id or self.patient_id), method=method,
                           headers=self.headers[who], json=body)


@pytest.fixture
def clinic(make):
    return Clinic(make)


def state() -> tuple:
    """Everything the patient routes could write."""
    return (
        sorted(db.session.execute(select(CareTeamMember.patient_id, CareTeamMember.clinician_id)).all()),
        db.session.scalars(select(LevelOfCareChange.id).order_by(LevelOfCareChange.id)).all(),
        sorted((i.id, i.expires_at) for i in db.session.scalars(
            select(Invite).execution_options(populate_existing=True))),
    )


OUTSIDERS = ["a clinician not on the care team", "a clinician of another organization",
             "an admin of another organization", "another patient", "a patient of another organization"]


@pytest.mark.parametrize("route", PATIENT_ROUTES)
@pytest.mark.parametrize("who", OUTSIDERS)
def test_a_patient_out_of_reach_is_not_found(client, clinic, route, who):
    before = state()

    response = clinic.request(client, route, who)

    body = problem(response, 404)
    text = response.get_data(as_text=True)
    assert "Jordan" not in text and clinic.patient_email not in text and "party" not in text
    assert body["detail"] == "No such patient."
    assert state() == before


@pytest.mark.parametrize("route", PATIENT_ROUTES)
def test_out_of_reach_and_missing_look_the_same(client, clinic, route):
    for outsider, staff in [("a clinician not on the care team", "a clinician not on the care team"),
                            ("an admin of another organization", "the organization's admin")]:
        out_of_reach = clinic.request(client, route, outsider)
        missing = clinic.request(client, route, staff, patient_id=99_999)

        assert missing.status_code == out_of_reach.status_code == 404
        assert missing.get_json() == out_of_reach.get_json()


@pytest.mark.parametrize("route, expected", [
    ("record", 200), ("checkins", 200), ("care team", 403), ("level of care", 201), ("invite", 201),
])
def test_the_care_team_clinician_reaches_the_patient(client, clinic, route, expected):
    response = clinic.request(client, route, "the care team's clinician")

    assert response.status_code == expected, response.json
    if expected == 403:
        problem(response, 403)


@pytest.mark.parametrize("route, expected", [
    ("record", 200), ("checkins", 200), ("care team", 200), ("level of care", 201), ("invite", 201),
])
def test_the_organizations_admin_reaches_every_patient_of_it(client, clinic, route, expected):
    response = clinic.request(client, route, "the organization's admin")

    assert response.status_code == expected, response.json


def test_the_care_team_reads_the_patients_check_ins(client, clinic):
    response = clinic.request(client, "checkins", "the care team's clinician")

    assert [(c["date"], c["note"]) for c in response.json["items"]] == [
        ("2026-11-22", "slept badly after the party")]


def test_a_patient_reaches_only_their_own_check_ins(client, make):
    patient = make.patient()
    auth = make.headers(patient)
    client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json=checkin_body())

    own = client.get(f"/api/v1/patients/{patient.id}/checkins", headers=auth)

    assert own.status_code == 200 and own.json["total"] == 1


def test_a_patient_cannot_use_the_staff_view_of_their_own_record(client, make, count):
    patient = make.patient()
    auth, patient_id = make.headers(patient), patient.id
    changes = count(LevelOfCareChange)

    problem(client.get(f"/api/v1/patients/{patient_id}", headers=auth), 403)
    problem(client.post(f"/api/v1/patients/{patient_id}/level-of-care", headers=auth,
                        json={"level_of_care": "outpatient"}), 403)
    assert count(LevelOfCareChange) == changes


# Every route behind a token, with a body that would otherwise be accepted.
PROTECTED = [
    ("GET", "/api/v1/me"), ("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout-everywhere"), ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/users/1/disable"), ("POST", "/api/v1/users/1/enable"),
    ("GET", "/api/v1/me/checkins"), ("GET", "/api/v1/me/checkins/2026-11-23"),
    ("PUT", "/api/v1/me/checkins/2026-11-23"), ("POST", "/api/v1/me/checkins/sync"),
    ("GET", "/api/v1/patients"), ("POST", "/api/v1/patients"),
    ("GET", "/api/v1/patients/1"), ("GET", "/api/v1/patients/1/checkins"),
    ("PUT", "/api/v1/patients/1/care-team"), ("GET", "/api/v1/clinicians"),
    ("POST", "/api/v1/patients/1/level-of-care"),
    ("POST", "/api/v1/patients/1/invite"), ("GET", "/api/v1/catalogue"),
    ("POST", "/api/v1/coping-skills"), ("GET", "/api/v1/programs"), ("POST", "/api/v1/programs"),
]


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_every_protected_route_needs_a_valid_token(client, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.open(path, method=method, headers=headers, json={})

    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_protected_list_covers_every_foundation_route(app):
    public = {"/api/v1/auth/login", "/api/v1/auth/register"}
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules()
              if rule.endpoint.split(".")[0] in {"auth", "patients", "checkins", "catalogue"}
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    listed = {(path.replace("users/1", "users/<id:user_id>").replace("/1", "/<id:patient_id>")
               .replace("/2026-11-23", "/<day:day>"), method)
              for method, path in PROTECTED}

    assert {route for route in routes if route[0] not in public} == listed
