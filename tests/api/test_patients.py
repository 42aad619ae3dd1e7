"""Enrolment, registration with an invite, care teams and level of care."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import (
    CareTeamMember,
    Invite,
    LevelOfCare,
    LevelOfCareChange,
    PatientProfile,
    Program,
    User,
    db,
)
from tests.factories import PASSWORD, problem

ENROLMENT = {"email": "sam@example.org", "display_name": "Sam", "timezone": "America/New_York",
             "level_of_care": "iop"}


def enrol(client, headers, **overrides):
    return client.post("/api/v1/patients", headers=headers, json={**ENROLMENT, **overrides})


def register(client, code, email="sam@example.org", password="a long enough password"):
    return client.post("/api/v1/auth/register",
                       json={"invite_code": code, "email": email, "password": password})


def care_team(patient_id: int) -> list[int]:
    return list(db.session.scalars(select(CareTeamMember.clinician_id).where(
        CareTeamMember.patient_id == patient_id).order_by(CareTeamMember.clinician_id)))


# --- enrolment -------------------------------------------------------------

def test_a_clinician_enrols_a_patient_and_joins_the_care_team(client, clinician, clinician_auth, clock):
    clinician_id = clinician.id

    response = enrol(client, clinician_auth, program_id=None, recovery_start_date="2026-10-01")

    assert response.status_code == 201, response.json
    patient = response.json["patient"]
    assert patient["email"] == "sam@example.org" and patient["display_name"] == "Sam"
    assert patient["registered"] is False
    assert patient["level_of_care"] == "iop" and patient["recovery_start_date"] == "2026-10-01"
    assert [member["id"] for member in patient["care_team"]] == [clinician_id]
    assert [(h["level_of_care"], h["changed_by"]["id"]) for h in patient["level_of_care_history"]] == [
        ("iop", clinician_id)]
    invite = response.json["invite"]
    assert len(invite["code"]) >= 8
    assert datetime.fromisoformat(invite["expires_at"]) == clock.now + timedelta(hours=72)
    assert care_team(patient["id"]) == [clinician_id]


def test_an_admin_enrols_a_patient_without_joining_the_care_team(client, make, organization):
    response = enrol(client, make.headers(make.admin(organization)))

    assert response.status_code == 201, response.json
    assert response.json["patient"]["care_team"] == []


def test_the_invite_code_is_stored_only_as_a_hash(client, clinician_auth):
    code = enrol(client, clinician_auth).json["invite"]["code"]

    stored = db.session.scalars(select(Invite)).one()
    assert code not in stored.code_hash


def test_a_patient_is_enrolled_into_a_program_of_the_organization(client, make, organization, clinician_auth):
    program = Program(organization_id=organization.id, name="Evening IOP")
    db.session.add(program)
    db.session.commit()

    response = enrol(client, clinician_auth, program_id=program.id)

    assert response.json["patient"]["program"] == {"id": program.id, "name": "Evening IOP"}


def test_a_patient_cannot_enrol_anyone(client, make, count):
    auth = make.headers(make.patient())
    users = count(User)

    problem(enrol(client, auth), 403)
    assert count(User) == users


@pytest.mark.parametrize("overrides, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "EST5EDT "}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"email": "not-an-email"}, "email"),
    ({"display_name": ""}, "display_name"),
    ({"display_name": "x" * 121}, "display_name"),
    ({"level_of_care": "rehab"}, "level_of_care"),
    ({"recovery_start_date": "2026-12-01"}, "recovery_start_date"),
    ({"recovery_start_date": "01/10/2026"}, "recovery_start_date"),
    ({"program_id": 999}, "program_id"),
    ({"program_id": "1"}, "program_id"),
    # Past a 32-bit id: no program, and not a driver overflow (was a 500).
    ({"program_id": 2**31}, "program_id"),
    ({"program_id": 22038071633111691264}, "program_id"),
    ({"nickname": "Sammy"}, "nickname"),
])
def test_a_bad_enrolment_is_refused_per_field_and_writes_nothing(client, clinician_auth, count, overrides, field):
    users = count(User)

    response = enrol(client, clinician_auth, **overrides)

    assert field in problem(response, 422)["errors"]
    assert count(User) == users and count(PatientProfile) == 0 and count(Invite) == 0


@pytest.mark.parametrize("field", ["email", "display_name", "timezone", "level_of_care"])
def test_every_required_enrolment_field_must_be_present(client, clinician_auth, count, field):
    body = dict(ENROLMENT)
    del body[field]

    assert field in problem(client.post("/api/v1/patients", headers=clinician_auth, json=body), 422)["errors"]
    assert count(PatientProfile) == 0


def test_a_program_of_another_organization_is_refused(client, make, clinician_auth, count):
    other_program = Program(organization_id=make.organization().id, name="Elsewhere")
    db.session.add(other_program)
    db.session.commit()

    assert "program_id" in problem(enrol(client, clinician_auth, program_id=other_program.id), 422)["errors"]
    assert count(PatientProfile) == 0


@pytest.mark.parametrize("email", ["sam@example.org", "SAM@Example.org"])
def test_an_email_already_in_use_is_refused_with_409(client, clinician_auth, count, email):
    assert enrol(client, clinician_auth).status_code == 201
    users = count(User)

    response = client.post("/api/v1/patients", headers=clinician_auth, json={**ENROLMENT, "email": email})

    assert "email" in problem(response, 409)["errors"]
    assert count(User) == users


def test_an_email_of_a_staff_member_is_refused(client, make, clinician, clinician_auth, count):
    users = count(User)
    problem(enrol(client, clinician_auth, email=clinician.email), 409)
    assert count(User) == users


def test_an_email_known_only_to_another_organization_enrols_as_any_new_one(client, make, clinician_auth, count):
    """A 409 here would tell this program that the person is in treatment elsewhere (42 CFR Part 2)."""
    elsewhere = make.patient(organization=make.organization())

    response = enrol(client, clinician_auth, email=elsewhere.email.upper())

    assert response.status_code == 201, response.json
    assert count(User, User.email == elsewhere.email) == 2


# --- registration ----------------------------------------------------------

@pytest.fixture
def invite_code(client, clinician_auth):
    return enrol(client, clinician_auth).json["invite"]["code"]


@pytest.mark.parametrize("email", ["sam@example.org", "Sam@Example.ORG"])
def test_a_patient_registers_with_the_invite_and_their_email(client, invite_code, email):
    response = register(client, invite_code, email=email)

    assert response.status_code == 201, response.json
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert me.json["role"] == "patient" and me.json["email"] == "sam@example.org"
    assert me.json["patient"]["registered"] is True
    login = client.post("/api/v1/auth/login", json={"email": "sam@example.org",
                                                     "password": "a long enough password"})
    assert login.status_code == 200


def test_the_code_may_be_typed_in_lower_case_with_dashes(client, invite_code):
    typed = "-".join([invite_code[:4], invite_code[4:8], invite_code[8:]]).lower()

    assert register(client, typed).status_code == 201


def test_an_invite_is_single_use(client, invite_code):
    assert register(client, invite_code).status_code == 201

    again = register(client, invite_code, password="another long password")

    assert "invite_code" in problem(again, 422)["errors"]
    login = client.post("/api/v1/auth/login", json={"email": "sam@example.org", "password": "another long password"})
    problem(login, 401)


def test_an_invite_is_refused_for_another_email(client, make, invite_code, count):
    response = register(client, invite_code, email="someone.else@example.org")

    assert "invite_code" in problem(response, 422)["errors"]
    assert count(Invite, Invite.used_at.is_not(None)) == 0
    assert register(client, invite_code).status_code == 201  # the code still works for Sam


def test_an_invite_for_another_enrolled_patient_is_refused(client, clinician_auth, invite_code, count):
    enrol(client, clinician_auth, email="alex@example.org", display_name="Alex")

    problem(register(client, invite_code, email="alex@example.org"), 422)
    assert count(User, User.password_hash.is_not(None)) == 1  # only the clinician


@pytest.mark.parametrize("hours, status", [(71, 201), (72, 422), (200, 422)])
def test_an_invite_expires(client, clock, invite_code, hours, status):
    clock.advance(hours=hours, minutes=59 if hours == 71 else 0)

    response = register(client, invite_code)

    assert response.status_code == status, response.json
    if status == 422:
        assert "invite_code" in problem(response, 422)["errors"]


@pytest.mark.parametrize("code", ["ABCDEFGHJKMN", "not a code", "A" * 40])
def test_an_unknown_code_is_refused(client, invite_code, code):
    problem(register(client, code), 422)


@pytest.mark.parametrize("password", ["", "short", "123456789", "tidal-moss7"])
def test_a_password_under_12_characters_is_refused(client, invite_code, count, password):
    response = register(client, invite_code, password=password)

    assert "password" in problem(response, 422)["errors"]
    assert count(Invite, Invite.used_at.is_not(None)) == 0


@pytest.mark.parametrize("body, field", [
    ({"email": "sam@example.org", "password": "a long enough password"}, "invite_code"),
    ({"invite_code": "ABCDEFGHJKMN", "password": "a long enough password"}, "email"),
    ({"invite_code": "ABCDEFGHJKMN", "email": "sam@example.org"}, "password"),
    ({"invite_code": "ABCDEFGHJKMN", "email": "sam@example.org", "password": "a long enough password",
      "role": "admin"}, "role"),
])
def test_a_malformed_registration_is_refused_per_field(client, body, field):
    assert field in problem(client.post("/api/v1/auth/register", json=body), 422)["errors"]


def test_a_reissued_invite_replaces_the_old_one(client, make, clinician_auth, clock):
    enrolled = enrol(client, clinician_auth).json
    old_code = enrolled["invite"]["code"]
    clock.advance(hours=80)  # the first one has expired meanwhile

    reissued = client.post(f"/api/v1/patients/{enrolled['patient']['id']}/invite", headers=clinician_auth)

    assert reissued.status_code == 201, reissued.json
    new_code = reissued.json["code"]
    assert new_code != old_code
    assert datetime.fromisoformat(reissued.json["expires_at"]) == clock.now + timedelta(hours=72)
    problem(register(client, old_code), 422)
    assert register(client, new_code).status_code == 201


def test_a_reissued_invite_kills_an_unexpired_old_one(client, clinician_auth):
    enrolled = enrol(client, clinician_auth).json

    client.post(f"/api/v1/patients/{enrolled['patient']['id']}/invite", headers=clinician_auth)

    problem(register(client, enrolled["invite"]["code"]), 422)


def test_no_invite_is_reissued_after_registration(client, clinician_auth, count):
    enrolled = enrol(client, clinician_auth).json
    register(client, enrolled["invite"]["code"])

    response = client.post(f"/api/v1/patients/{enrolled['patient']['id']}/invite", headers=clinician_auth)

    problem(response, 409)
    assert count(Invite) == 1


# --- care teams ------------------------------------------------------------

@pytest.fixture
def admin_auth(make, organization):
    return make.headers(make.admin(organization))


def test_an_admin_picks_a_care_team_from_every_active_clinician_of_the_organization(
        client, make, organization, admin_auth):
    new = make.clinician(organization, name="Dr New")  # on no care team yet
    seasoned = make.clinician(organization, name="Dr Seasoned")
    make.patient(seasoned)
    gone = make.clinician(organization, name="Dr Gone")
    gone.is_active = False
    make.clinician(make.organization(), name="Dr Elsewhere")
    db.session.commit()

    listed = client.get("/api/v1/clinicians", headers=admin_auth)

    assert listed.status_code == 200
    assert [(c["id"], c["display_name"]) for c in listed.json] == [(new.id, "Dr New"), (seasoned.id, "Dr Seasoned")]
    assert listed.json[0]["email"] == new.email


def test_an_admin_sets_the_care_team_adding_and_removing_clinicians(client, make, organization, admin_auth):
    first, second, third = (make.clinician(organization) for _ in range(3))
    ids = first.id, second.id, third.id
    patient = make.patient(first)
    patient_id = patient.id

    response = client.put(f"/api/v1/patients/{patient_id}/care-team", headers=admin_auth,
                          json={"clinician_ids": [ids[1], ids[2]]})

    assert response.status_code == 200, response.json
    assert [member["id"] for member in response.json["care_team"]] == [ids[1], ids[2]]
    assert care_team(patient_id) == [ids[1], ids[2]]


def test_setting_the_same_care_team_again_changes_nothing(client, make, organization, admin_auth):
    clinician = make.clinician(organization)
    clinician_id, patient_id = clinician.id, make.patient(clinician).id

    for _ in range(2):
        response = client.put(f"/api/v1/patients/{patient_id}/care-team", headers=admin_auth,
                              json={"clinician_ids": [clinician_id, clinician_id]})
        assert response.status_code == 200

    assert care_team(patient_id) == [clinician_id]


def test_a_removed_clinician_loses_sight_of_the_patient(client, make, organization, admin_auth):
    leaving, staying = make.clinician(organization), make.clinician(organization)
    leaving_auth, staying_id = make.headers(leaving), staying.id
    patient_id = make.patient(leaving).id
    assert client.get(f"/api/v1/patients/{patient_id}", headers=leaving_auth).status_code == 200

    client.put(f"/api/v1/patients/{patient_id}/care-team", headers=admin_auth,
               json={"clinician_ids": [staying_id]})

    problem(client.get(f"/api/v1/patients/{patient_id}", headers=leaving_auth), 404)
    problem(client.get(f"/api/v1/patients/{patient_id}/checkins", headers=leaving_auth), 404)


@pytest.mark.parametrize("who", ["clinician of another organization", "admin", "patient", "unknown id"])
def test_only_clinicians_of_the_organization_can_join_a_care_team(client, make, organization, admin_auth, who):
    clinician = make.clinician(organization)
    patient = make.patient(clinician)
    clinician_id, patient_id = clinician.id, patient.id
    candidate = {
        "clinician of another organization": lambda: make.clinician().id,
        "admin": lambda: make.admin(organization).id,
        "patient": lambda: make.patient(clinician).id,
        "unknown id": lambda: 99_999,
    }[who]()

    response = client.put(f"/api/v1/patients/{patient_id}/care-team", headers=admin_auth,
                          json={"clinician_ids": [clinician_id, candidate]})

    assert str(candidate) in problem(response, 422)["errors"]["clinician_ids"][0]
    assert care_team(patient_id) == [clinician_id]


@pytest.mark.parametrize("body", [
    {"clinician_ids": []}, {"clinician_ids": ["1"]}, {"clinician_ids": [0]}, {"clinician_ids": 1}, {},
    {"clinician_ids": list(range(1, 22))}, {"clinician_ids": [2**63]},
])
def test_a_malformed_care_team_is_refused(client, make, organization, admin_auth, body):
    clinician = make.clinician(organization)
    clinician_id, patient_id = clinician.id, make.patient(clinician).id

    assert "clinician_ids" in problem(
        client.put(f"/api/v1/patients/{patient_id}/care-team", headers=admin_auth, json=body), 422)["errors"]
    assert care_team(patient_id) == [clinician_id]


def test_a_clinician_on_the_care_team_cannot_change_it(client, make, organization):
    clinician, colleague = make.clinician(organization), make.clinician(organization)
    clinician_id, colleague_id = clinician.id, colleague.id
    auth = make.headers(clinician)
    patient_id = make.patient(clinician).id

    response = client.put(f"/api/v1/patients/{patient_id}/care-team", headers=auth,
                          json={"clinician_ids": [colleague_id]})

    problem(response, 403)
    assert care_team(patient_id) == [clinician_id]


# --- level of care ---------------------------------------------------------

def test_a_step_up_is_recorded_as_history_with_who_and_when(client, make, clinician, clinician_auth, clock):
    clinician_id = clinician.id
    patient_id = make.patient(clinician, level_of_care=LevelOfCare.iop).id
    clock.advance(days=3)

    response = client.post(f"/api/v1/patients/{patient_id}/level-of-care", headers=clinician_auth,
                           json={"level_of_care": "php", "note": "Cravings rising; step up"})

    assert response.status_code == 201, response.json
    assert response.json["level_of_care"] == "php"
    assert response.json["changed_by"]["id"] == clinician_id
    assert datetime.fromisoformat(response.json["changed_at"]) == clock.now
    assert response.json["effective_date"] == "2026-11-26"  # the patient's today
    record = client.get(f"/api/v1/patients/{patient_id}", headers=clinician_auth).json
    assert record["level_of_care"] == "php"
    assert [(h["level_of_care"], h["changed_by"]["id"]) for h in record["level_of_care_history"]] == [
        ("iop", clinician_id), ("php", clinician_id)]
    assert record["level_of_care_history"][1]["note"] == "Cravings rising; step up"


def test_the_history_keeps_every_step(client, make, organization, clinician, clinician_auth, clock):
    admin = make.admin(organization)
    admin_id, admin_auth = admin.id, make.headers(admin)
    patient_id = make.patient(clinician).id

    for level, auth, on in [("php", clinician_auth, "2026-11-24"), ("iop", admin_auth, "2026-12-10"),
                            ("outpatient", clinician_auth, "2027-01-05")]:
        clock.advance(days=1)
        response = client.post(f"/api/v1/patients/{patient_id}/level-of-care", headers=auth,
                               json={"level_of_care": level, "effective_date": on})
        assert response.status_code == 201, response.json

    history = db.session.scalars(select(LevelOfCareChange).where(LevelOfCareChange.patient_id == patient_id)
                                 .order_by(LevelOfCareChange.id)).all()
    assert [(h.level_of_care.value, h.effective_date) for h in history] == [
        ("iop", date(2026, 11, 23)), ("php", date(2026, 11, 24)), ("iop", date(2026, 12, 10)),
        ("outpatient", date(2027, 1, 5))]
    assert history[2].changed_by_id == admin_id
    assert [h.changed_at for h in history[1:]] == [
        datetime(2026, 11, d, 17, tzinfo=timezone.utc) for d in (24, 25, 26)]


@pytest.mark.parametrize("body, field", [
    ({"level_of_care": "inpatient"}, "level_of_care"),
    ({}, "level_of_care"),
    ({"level_of_care": "php", "effective_date": "2028-01-01"}, "effective_date"),
    ({"level_of_care": "php", "effective_date": "soon"}, "effective_date"),
    ({"level_of_care": "php", "note": "x" * 501}, "note"),
    ({"level_of_care": "php", "changed_by": {"id": 1}}, "changed_by"),
])
def test_a_bad_level_of_care_change_is_refused(client, make, clinician, clinician_auth, count, body, field):
    patient_id = make.patient(clinician).id

    response = client.post(f"/api/v1/patients/{patient_id}/level-of-care", headers=clinician_auth, json=body)

    assert field in problem(response, 422)["errors"]
    assert count(LevelOfCareChange) == 1
    assert db.session.get(PatientProfile, patient_id).level_of_care is LevelOfCare.iop


# --- listing ---------------------------------------------------------------

def test_a_clinician_lists_only_their_own_patients(client, make, organization, clinician, clinician_auth):
    mine = [make.patient(clinician, name=name).id for name in ("Bea", "Al")]
    make.patient(make.clinician(organization), name="Cy")   # a colleague's patient
    make.patient(name="Di")                                 # another organization's

    response = client.get("/api/v1/patients", headers=clinician_auth)

    assert response.status_code == 200
    assert [p["display_name"] for p in response.json["items"]] == ["Al", "Bea"]
    assert sorted(p["id"] for p in response.json["items"]) == sorted(mine)
    assert response.json["total"] == 2


def test_an_admin_lists_every_patient_of_the_organization_and_no_other(client, make, organization, admin_auth):
    make.patient(make.clinician(organization), name="Bea")
    make.patient(make.clinician(organization), name="Al")
    make.patient(name="Di")

    response = client.get("/api/v1/patients", headers=admin_auth)

    assert [p["display_name"] for p in response.json["items"]] == ["Al", "Bea"]


def test_the_patient_list_is_paginated(client, make, clinician, clinician_auth):
    for name in "ABCDE":
        make.patient(clinician, name=name)

    response = client.get("/api/v1/patients?page=2&page_size=2", headers=clinician_auth)

    assert [p["display_name"] for p in response.json["items"]] == ["C", "D"]
    assert (response.json["total"], response.json["page"], response.json["page_size"]) == (5, 2, 2)


def test_a_patient_cannot_list_patients(client, make):
    problem(client.get("/api/v1/patients", headers=make.headers(make.patient())), 403)


def test_the_shared_test_password_logs_a_factory_user_in(client, make):
    email = make.clinician().email

    assert client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200
