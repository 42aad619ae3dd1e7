"""The bench's references (bench/promises.py) answer the requests they stand for, on both databases.

`python -m bench` reads each missed target against what its request's
promises alone cost; a reference that answered something else, or wrote
what Waypoint could not read back, would make that reading wrong.
"""
import pytest
from sqlalchemy import select

from bench import promises
from bench.load import CheckinWrites
from models import AuditEvent, CheckinRevision, db

DAY = "2026-03-02"


@pytest.fixture
def reference(app):
    """The references on the test's database, its connections closed afterwards."""
    built = promises.create_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["JWT_SECRET_KEY"])
    yield built.test_client()
    built.extensions["bench.promises.engine"].dispose()


def test_the_put_reference_writes_a_day_waypoint_reads_back_with_every_version_kept_and_audited(
        reference, client, patient, auth, count):
    sent = {**auth, "Content-Type": "application/json"}

    first = reference.put(f"/api/v1/me/checkins/{DAY}", data=CheckinWrites.body(1, 0), headers=sent)
    again = reference.put(f"/api/v1/me/checkins/{DAY}", data=CheckinWrites.body(2, 1),
                          headers={**sent, "If-Match": "*"})

    assert (first.status_code, first.json["version"]) == (201, 1)
    assert (again.status_code, again.json["version"]) == (200, 2)
    read = client.get(f"/api/v1/me/checkins/{DAY}", headers=auth)
    assert (read.status_code, read.json["version"], read.json["note"]) == (200, 2, "Benchmark day 1.")
    assert count(CheckinRevision) == 2
    assert db.session.scalars(select(AuditEvent.status_code).where(
        AuditEvent.action == "write", AuditEvent.patient_id == patient.id).order_by(AuditEvent.id)).all() == [201, 200]


def test_the_caseload_reference_answers_the_rows_waypoint_kept(reference, client, make, clinician, clinician_auth):
    for _ in range(3):
        make.patient(clinician)
    ours = client.get("/api/v1/caseload", headers=clinician_auth).json  # keeps each patient's figures
    assert len(ours["items"]) == 3

    answered = reference.get("/api/v1/caseload", headers=clinician_auth)

    assert answered.status_code == 200
    assert sorted(answered.json["items"], key=lambda item: item["patient"]["id"]) == sorted(
        ours["items"], key=lambda item: item["patient"]["id"])


def test_the_references_refuse_a_session_that_ended(reference, client, auth):
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204

    refused = reference.put(f"/api/v1/me/checkins/{DAY}", data=CheckinWrites.body(1, 0),
                                          headers={**auth, "Content-Type": "application/json"})

    assert refused.status_code == 401
