"""A flaky phone retrying at once: races that only a real database can show (PostgreSQL)."""
from collections import Counter

import pytest
from sqlalchemy import select

from models import AuthSession, Checkin, CheckinRevision, PatientProfile, User, db
from tests.factories import bearer, checkin_body
from tests.races import all_at_once

WRITERS = 20
DAY = "/api/v1/me/checkins/2026-11-23"

pytestmark = pytest.mark.usefixtures("postgres_only")


@pytest.fixture
def server(app_with_pool):
    """The same app, with a connection pool for twenty request threads.

    A request may hold two connections at once (its session, and the audit
    log's own transaction): twenty threads in one process would drain the
    default pool of 15 and wait on each other until it times out. In
    production the threads are spread over processes (gunicorn.conf.py: 4 a
    worker), each with its own pool.
    """
    return app_with_pool(2 * WRITERS)


def versions() -> list[int]:
    db.session.expire_all()
    return list(db.session.scalars(select(CheckinRevision.version).order_by(CheckinRevision.version)))


def test_twenty_identical_first_writes_leave_one_check_in_and_one_revision(server, auth, count):
    responses = all_at_once(server, [lambda c: c.put(DAY, headers=auth, json=checkin_body())] * WRITERS)

    statuses = Counter(status for status, _, _ in responses)
    assert statuses == {201: 1, 200: WRITERS - 1}, statuses
    assert {headers["ETag"] for _, _, headers in responses} == {'"1"'}
    db.session.expire_all()
    assert count(Checkin) == 1
    assert versions() == [1]


def test_twenty_different_first_writes_leave_one_check_in_and_no_server_error(server, auth, count):
    bodies = [checkin_body(craving=i % 11, mood=(i * 3) % 11) for i in range(WRITERS)]

    responses = all_at_once(server, [lambda c, b=b: c.put(DAY, headers=auth, json=b) for b in bodies])

    statuses = Counter(status for status, _, _ in responses)
    assert statuses[201] == 1 and set(statuses) <= {201, 200, 428}, statuses
    db.session.expire_all()
    assert count(Checkin) == 1
    assert versions() == [1]
    winner = next(body for status, body, _ in responses if status == 201)
    stored = db.session.scalars(select(Checkin)).one()
    assert (stored.craving, stored.mood) == (winner["craving"], winner["mood"])


def test_twenty_concurrent_edits_of_version_1_let_exactly_one_through(server, client, auth, count):
    assert client.put(DAY, headers=auth, json=checkin_body(craving=0)).status_code == 201
    edits = [checkin_body(craving=1 + i % 10, note=f"edit {i}") for i in range(WRITERS)]

    responses = all_at_once(server, [
        lambda c, b=b: c.put(DAY, headers={**auth, "If-Match": '"1"'}, json=b) for b in edits])

    statuses = Counter(status for status, _, _ in responses)
    assert statuses == {200: 1, 412: WRITERS - 1}, statuses
    assert versions() == [1, 2]
    winner = next(body for status, body, _ in responses if status == 200)
    stored = db.session.scalars(select(Checkin).execution_options(populate_existing=True)).one()
    assert stored.version == 2 and stored.note == winner["note"]
    assert all(body["status"] == 412 for status, body, _ in responses if status == 412)


def test_twenty_concurrent_syncs_of_one_queue_write_each_day_once(server, auth, count):
    queue = {"checkins": [{"date": f"2026-11-{d}", **checkin_body(craving=d - 18)} for d in range(19, 24)]}

    responses = all_at_once(server, [lambda c: c.post("/api/v1/me/checkins/sync", headers=auth, json=queue)] * WRITERS)

    assert {status for status, _, _ in responses} == {200}
    outcomes = Counter(result["outcome"] for _, body, _ in responses for result in body["results"])
    assert outcomes == {"created": 5, "unchanged": 5 * (WRITERS - 1)}, outcomes
    db.session.expire_all()
    assert count(Checkin) == 5 and count(CheckinRevision) == 5


def test_a_refresh_token_presented_twenty_times_at_once_is_honoured_at_most_once(server, make):
    tokens = make.tokens(make.clinician())

    responses = all_at_once(server, [lambda c: c.post("/api/v1/auth/refresh",
                                                   headers=bearer(tokens["refresh_token"]))] * WRITERS)

    statuses = Counter(status for status, _, _ in responses)
    assert statuses[200] <= 1 and set(statuses) <= {200, 401}, statuses
    # Racing copies of one token look like theft: the family is revoked.
    session = db.session.scalars(select(AuthSession).execution_options(populate_existing=True)).one()
    assert session.revoked_at is not None


def test_two_clinicians_enrolling_one_email_at_once_get_one_patient_and_one_409(server, make, count):
    clinician = make.clinician()
    colleague = make.clinician(clinician.organization)
    body = {"email": "sam@example.org", "display_name": "Sam", "timezone": "America/New_York",
            "level_of_care": "iop"}
    # The default argument binds each caller's headers as the list is built.
    requests = [lambda c, h=make.headers(who): c.post("/api/v1/patients", headers=h, json=body)  # noqa: B008
                for who in (clinician, colleague) for _ in range(5)]

    responses = all_at_once(server, requests)

    statuses = Counter(status for status, _, _ in responses)
    assert statuses == {201: 1, 409: 9}, statuses
    assert count(User, User.email == "sam@example.org") == 1
    assert count(PatientProfile) == 1
