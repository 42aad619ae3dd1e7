"""The tour from the README, end to end: enrol, register, check in, read back."""
from tests.factories import checkin_body


def test_a_patient_checks_in_and_their_clinician_reads_it(client, make):
    clinician = make.clinician()
    enrolled = client.post("/api/v1/patients", headers=make.headers(clinician), json={
        "email": "sam@example.org", "display_name": "Sam", "timezone": "America/New_York",
        "level_of_care": "iop",
    })
    assert enrolled.status_code == 201, enrolled.json
    registered = client.post("/api/v1/auth/register", json={
        "invite_code": enrolled.json["invite"]["code"], "email": "Sam@Example.org",
        "password": "a long enough password",
    })
    assert registered.status_code == 201, registered.json
    patient_headers = {"Authorization": f"Bearer {registered.json['access_token']}"}

    written = client.put("/api/v1/me/checkins/2026-11-23", headers=patient_headers, json=checkin_body())
    assert written.status_code == 201, written.json
    assert written.headers["ETag"] == '"1"'

    patient_id = enrolled.json["patient"]["id"]
    read = client.get(f"/api/v1/patients/{patient_id}/checkins", headers=make.headers(clinician))
    assert read.status_code == 200
    assert [c["date"] for c in read.json["items"]] == ["2026-11-23"]
    assert read.json["items"][0]["craving"] == 3
