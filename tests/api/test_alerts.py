"""The alert inbox: who sees which alerts, filters and pages, and open -> acknowledged -> resolved."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import Alert, db
from services.alerts import raise_alert
from tests.factories import create_alert, problem

URL = "/api/v1/alerts"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


# Named, unlike conftest's: the inbox shows names and tests read them.
@pytest.fixture
def clinician(make):
    return make.clinician(name="Dr Care")


@pytest.fixture
def patient(make, clinician):
    return make.patient(clinician, name="Jordan Example")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.json["items"]]


def stored(alert_id) -> Alert:
    db.session.expire_all()
    return db.session.scalars(select(Alert).where(Alert.id == alert_id)).one()


# --- reading ----------------------------------------------------------------------------------

def test_a_clinician_lists_the_alerts_of_patients_on_their_care_teams_newest_first(
        client, make, clinician, patient, clinician_auth):
    second = make.patient(clinician)
    elsewhere = make.patient()  # another clinician's patient, same organization
    older = create_alert(patient, "substance_use", triggered_at=T0)
    newer = create_alert(second, "self_harm", severity="urgent", triggered_at=T0 + timedelta(hours=1))
    create_alert(elsewhere, "substance_use", triggered_at=T0 + timedelta(hours=2))

    response = client.get(URL, headers=clinician_auth)

    assert ids(response) == [newer.id, older.id]
    assert response.json["total"] == 2 and response.json["page"] == 1 and response.json["page_size"] == 50
    item = response.json["items"][1]
    assert item == {
        "id": older.id, "patient": {"id": patient.id, "display_name": "Jordan Example"},
        "rule": "substance_use", "severity": "high", "status": "open", "summary": "Test alert",
        "evidence": {}, "local_day": "2026-11-23", "first_triggered_at": "2026-11-23T12:00:00+00:00",
        "last_triggered_at": "2026-11-23T12:00:00+00:00", "trigger_count": 1,
        "acknowledged_at": None, "acknowledged_by_id": None, "acknowledge_note": None,
        "resolved_at": None, "resolved_by_id": None, "resolve_note": None,
    }


def test_an_admin_lists_the_organizations_alerts_and_nothing_of_another_organization(client, make, patient):
    admin = make.admin(patient.organization)
    own = create_alert(patient)
    create_alert(make.patient(), "short_sleep", severity="medium")  # another organization

    assert ids(client.get(URL, headers=make.headers(admin))) == [own.id]


def test_a_patient_may_not_list_alerts(client, make, patient):
    create_alert(patient)

    problem(client.get(URL, headers=make.headers(patient)), 403)


def test_the_list_needs_a_token(client):
    problem(client.get(URL), 401)


def test_without_a_status_the_list_holds_open_and_acknowledged_alerts(client, patient, clinician_auth):
    open_ = create_alert(patient, "substance_use", triggered_at=T0 + timedelta(hours=2))
    acknowledged = create_alert(patient, "short_sleep", status="acknowledged", severity="medium",
                                triggered_at=T0 + timedelta(hours=1))
    resolved = create_alert(patient, "self_harm", status="resolved", severity="urgent", triggered_at=T0)

    assert ids(client.get(URL, headers=clinician_auth)) == [open_.id, acknowledged.id]
    assert ids(client.get(URL, headers=clinician_auth, query_string={"status": "resolved"})) == [resolved.id]
    assert ids(client.get(URL, headers=clinician_auth, query_string={"status": "acknowledged"})) == [acknowledged.id]
    assert ids(client.get(URL, headers=clinician_auth, query_string={"status": "open"})) == [open_.id]


def test_the_list_filters_by_severity_and_by_patient(client, make, clinician, patient, clinician_auth):
    other = make.patient(clinician)
    urgent = create_alert(patient, "self_harm", severity="urgent")
    high = create_alert(patient, "substance_use")
    others = create_alert(other, "substance_use")

    assert ids(client.get(URL, headers=clinician_auth, query_string={"severity": "urgent"})) == [urgent.id]
    assert sorted(ids(client.get(URL, headers=clinician_auth, query_string={"patient_id": patient.id}))) == [
        urgent.id, high.id]
    assert ids(client.get(URL, headers=clinician_auth, query_string={"patient_id": other.id, "severity": "high"})) == [
        others.id]


def test_filtering_on_a_patient_out_of_reach_answers_404(client, make, clinician_auth):
    same_organization = make.patient()
    other_organization = make.patient()

    for patient_id in (same_organization.id, other_organization.id, 999_999):
        problem(client.get(URL, headers=clinician_auth, query_string={"patient_id": patient_id}), 404)


def test_the_list_is_paginated(client, patient, clinician_auth):
    rules = ["substance_use", "short_sleep", "craving_spike", "mood_worsening", "missed_sessions"]
    alerts = [create_alert(patient, rule, triggered_at=T0 + timedelta(minutes=i)) for i, rule in enumerate(rules)]
    newest_first = [a.id for a in reversed(alerts)]

    pages = [client.get(URL, headers=clinician_auth, query_string={"page": n, "page_size": 2}) for n in (1, 2, 3, 4)]

    assert [ids(page) for page in pages] == [newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert {page.json["total"] for page in pages} == {5}


@pytest.mark.parametrize("query, field", [
    ({"status": "closed"}, "status"),
    ({"severity": "low"}, "severity"),
    ({"patient_id": "abc"}, "patient_id"),
    ({"patient_id": "0"}, "patient_id"),
    ({"patient_id": "99999999999"}, "patient_id"),
    ({"page": "0"}, "page"),
    ({"page_size": "201"}, "page_size"),
])
def test_bad_filters_answer_422_problem_details_naming_the_field(client, clinician_auth, query, field):
    body = problem(client.get(URL, headers=clinician_auth, query_string=query), 422)

    assert field in body["errors"]


# --- acknowledge and resolve ---------------------------------------------------------------------

def test_a_clinician_acknowledges_an_open_alert_with_a_note(client, clock, clinician, patient, clinician_auth):
    alert = create_alert(patient)

    response = client.post(f"{URL}/{alert.id}/acknowledge", headers=clinician_auth, json={"note": "  Called, safe  "})

    assert response.status_code == 200, response.json
    assert {k: response.json[k] for k in ("status", "acknowledged_at", "acknowledged_by_id",
                                          "acknowledge_note")} == {
        "status": "acknowledged", "acknowledged_at": "2026-11-23T17:00:00+00:00",
        "acknowledged_by_id": clinician.id, "acknowledge_note": "Called, safe"}
    saved = stored(alert.id)
    assert (saved.status.value, saved.acknowledged_by_id, saved.open_key) == (
        "acknowledged", clinician.id, f"{patient.id}:substance_use")


def test_acknowledging_needs_no_body_and_a_blank_note_is_none(client, patient, clinician_auth):
    first, second = create_alert(patient, "substance_use"), create_alert(patient, "short_sleep")

    no_body = client.post(f"{URL}/{first.id}/acknowledge", headers=clinician_auth)
    blank = client.post(f"{URL}/{second.id}/acknowledge", headers=clinician_auth, json={"note": "   "})

    assert (no_body.status_code, no_body.json["acknowledge_note"]) == (200, None)
    assert (blank.status_code, blank.json["acknowledge_note"]) == (200, None)


def test_open_to_acknowledged_to_resolved_records_who_and_when(client, make, clock, clinician, patient, clinician_auth):
    colleague = make.clinician(patient.organization)
    make.add_to_care_team(patient, colleague)
    alert = create_alert(patient)

    assert client.post(f"{URL}/{alert.id}/acknowledge", headers=clinician_auth).status_code == 200
    clock.advance(hours=3)
    response = client.post(f"{URL}/{alert.id}/resolve", headers=make.headers(colleague),
                           json={"note": "Back on track"})

    assert response.status_code == 200, response.json
    assert {k: response.json[k] for k in ("status", "acknowledged_by_id", "resolved_at", "resolved_by_id",
                                          "resolve_note")} == {
        "status": "resolved", "acknowledged_by_id": clinician.id, "resolved_at": "2026-11-23T20:00:00+00:00",
        "resolved_by_id": colleague.id, "resolve_note": "Back on track"}
    assert stored(alert.id).open_key is None


def test_an_open_alert_may_be_resolved_directly(client, make, patient):
    admin = make.admin(patient.organization)
    alert = create_alert(patient)

    response = client.post(f"{URL}/{alert.id}/resolve", headers=make.headers(admin))

    assert (response.status_code, response.json["status"], response.json["acknowledged_at"]) == (
        200, "resolved", None)


def test_resolving_twice_or_acknowledging_anything_but_an_open_alert_answers_409(client, patient, clinician_auth):
    alert = create_alert(patient)
    assert client.post(f"{URL}/{alert.id}/acknowledge", headers=clinician_auth).status_code == 200

    problem(client.post(f"{URL}/{alert.id}/acknowledge", headers=clinician_auth), 409)
    assert client.post(f"{URL}/{alert.id}/resolve", headers=clinician_auth).status_code == 200
    problem(client.post(f"{URL}/{alert.id}/resolve", headers=clinician_auth), 409)
    problem(client.post(f"{URL}/{alert.id}/acknowledge", headers=clinician_auth), 409)
    assert stored(alert.id).status.value == "resolved"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_an_alert_out_of_reach_answers_404_and_stays_as_it_was(client, make, patient, action):
    alert = create_alert(patient)
    off_the_team = make.clinician(patient.organization)
    other_admin = make.admin()  # another organization
    other_clinician = make.clinician()

    for actor in (off_the_team, other_admin, other_clinician):
        problem(client.post(f"{URL}/{alert.id}/{action}", headers=make.headers(actor)), 404)
    problem(client.post(f"{URL}/999999/{action}", headers=make.headers(off_the_team)), 404)
    problem(client.post(f"{URL}/99999999999/{action}", headers=make.headers(off_the_team)), 404)
    assert stored(alert.id).status.value == "open"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_patient_may_not_acknowledge_or_resolve_even_their_own_alert(client, make, patient, action):
    alert = create_alert(patient)

    problem(client.post(f"{URL}/{alert.id}/{action}", headers=make.headers(patient)), 403)
    problem(client.post(f"{URL}/999999/{action}", headers=make.headers(patient)), 403)


@pytest.mark.parametrize("body, field", [
    ({"note": "x" * 1001}, "note"),
    ({"note": 5}, "note"),
    ({"note": "bell \x07"}, "note"),
    ({"note": "nul \x00"}, "note"),
    ({"note": "half \ud800"}, "note"),
    ({"status": "resolved"}, "status"),
])
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_bad_note_answers_422_problem_details(client, patient, clinician_auth, action, body, field):
    alert = create_alert(patient)

    result = problem(client.post(f"{URL}/{alert.id}/{action}", headers=clinician_auth, json=body), 422)

    assert field in result["errors"]
    assert stored(alert.id).status.value == "open"


def test_a_note_of_1000_characters_over_several_lines_is_kept(client, patient, clinician_auth):
    alert = create_alert(patient)
    note = ("Line one\n\tLine two " + "x" * 1000)[:1000]

    response = client.post(f"{URL}/{alert.id}/resolve", headers=clinician_auth, json={"note": note})

    assert (response.status_code, response.json["resolve_note"]) == (200, note)


def test_after_resolving_the_same_rule_opens_a_fresh_alert_in_the_inbox(client, clock, patient, clinician_auth):
    alert = create_alert(patient)
    client.post(f"{URL}/{alert.id}/resolve", headers=clinician_auth)
    raise_alert(patient, "substance_use", "high", "Use reported", {}, date(2026, 11, 23), clock.now)
    db.session.commit()

    (fresh,) = client.get(URL, headers=clinician_auth).json["items"]
    assert fresh["id"] != alert.id and fresh["status"] == "open"
