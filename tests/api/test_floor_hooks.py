"""The floor's audit commit as a server runs it: each request in an app context of its own (issue #14).

Tests hold one app context across requests, so the read's cheaper commit
(the transaction's own, the session closed with the request) runs only
where a request is handed over as a server does, from a thread of its own.
"""
import threading
import warnings

from sqlalchemy import select

from models import AuditEvent, db
from tests.factories import bearer, login

MY_CHECKINS = "/api/v1/me/checkins"


def _served(app, method: str, path: str, headers: dict) -> list:
    """Send requests as a server hands them over: no app context before each; return the statuses."""
    statuses = []

    def serve():
        client = app.test_client()
        for _ in range(2):  # the second finds the pool's connection as the first left it
            statuses.append(client.open(path, method=method, headers=headers).status_code)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a session whose transaction ended under it warns
        thread = threading.Thread(target=serve)
        thread.start()
        thread.join()
    return statuses


def _events(patient_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == patient_id)
                                   .order_by(AuditEvent.id)))


def test_a_served_read_commits_its_event_before_the_answer(app, client, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    before = len(_events(patient.id))

    assert _served(app, "GET", f"{MY_CHECKINS}?page_size=1", headers) == [200, 200]

    events = _events(patient.id)[before:]
    assert [(event.action, event.outcome, event.status_code, event.patient_id) for event in events] == [
        ("read", "allowed", 200, patient.id)] * 2
    assert events[0].detail == {"method": "GET", "page_size": "1"}
    assert events[0].organization_id == patient.organization_id and events[0].actor_role == "patient"
    assert events[0].occurred_at.tzinfo is not None


def test_a_served_refusal_of_a_read_and_of_a_write_each_leave_their_event(app, client, patient):
    headers = bearer(login(client, patient.email).json["access_token"])
    before = len(_events(patient.id))

    refused = _served(app, "GET", "/api/v1/patients/999999/checkins", headers)
    refused += _served(app, "PUT", f"{MY_CHECKINS}/2026-11-23", {**headers, "If-Match": '"999"'})

    assert all(status >= 400 for status in refused)

    events = _events(patient.id)[before:]
    assert len(events) == 4
    assert all(event.outcome != "allowed" for event in events)
