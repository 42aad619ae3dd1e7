"""Two app processes on one SQLite file: a read that decides a write holds across processes.

The shipped gunicorn.conf.py runs a worker per core. Each process queues its
own writers on a lock (api/database.py), but pysqlite read outside any
transaction, so two processes could both read "invite unused", "refresh
token current" or "four goals this week" and both write. Here two gunicorn
masters of one worker each serve the same file, and every race sends half
of its requests to each, all released at once.

SQLite only: on PostgreSQL the same races are covered by row locks
(tests/api/test_concurrency.py).
"""
import secrets
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from models import AuthSession, Checkin, Invite, WeeklyGoal, db
from services import accounts
from services.goals import GOALS_PER_WEEK, week_start_of
from tests import gunicorn
from tests.factories import bearer, checkin_body, create_goal

ATTEMPTS_PER_PROCESS = 4
# Each race is run a few times: without a lock across processes, a round lets two through more often than not.
ROUNDS = 8
ZONE = "America/New_York"


@pytest.fixture(scope="module")
def processes(database_url, _schema, tmp_path_factory):
    """Start two app processes, one worker each, on the test run's SQLite file; stop them whatever happens."""
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("two processes on one SQLite file: the PostgreSQL races have tests of their own")
    folder = tmp_path_factory.mktemp("sqlite-processes")
    # The test mints tokens with the development key (no JWT_SECRET_KEY), as these processes check them.
    settings = gunicorn.environment(WAYPOINT_ENV="development", DATABASE_URL=database_url,
                                    GUNICORN_THREADS="4", OUTBOX_DIR=str(folder / "outbox"))
    with gunicorn.running(settings, folder, ("A", "B")) as started:
        yield started


@pytest.fixture
def real_now(clock):
    """Run the test's clock at the processes' time: what it writes must not be expired for them."""
    clock.now = datetime.now(UTC)
    return clock.now


def on_both_at_once(processes, method: str, path: str, bodies: list[dict | None], headers: dict | None = None):
    """Send each body on its own thread, alternating between the processes, released together."""
    barrier = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)

    def send(index, body):
        barrier.wait(timeout=30)
        answers[index] = processes[index % 2].call(method, path, body, headers)

    threads = [threading.Thread(target=send, args=(index, body)) for index, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(answer is not None for answer in answers), answers
    return answers


def statuses(answers) -> list[int]:
    return sorted(answer.status for answer in answers)


def test_one_invite_code_registers_one_account(processes, make, real_now):
    clinician = make.clinician()
    broken = []
    for round_ in range(ROUNDS):
        email = f"invited-{secrets.token_hex(6)}@example.org"
        profile, invite = accounts.enrol_patient(clinician, {
            "email": email, "display_name": "Invited", "timezone": ZONE, "level_of_care": "iop"}, real_now)
        db.session.commit()
        attempts = [{"invite_code": invite.code, "email": email, "password": secrets.token_urlsafe(18)}
                    for _ in range(2 * ATTEMPTS_PER_PROCESS)]

        answers = on_both_at_once(processes, "POST", "/api/v1/auth/register", attempts)

        if statuses(answers) != [201] + [422] * (len(attempts) - 1):
            broken.append((round_, statuses(answers)))
            continue
        # The password that took is the one whose registration was answered 201.
        winner = attempts[next(i for i, answer in enumerate(answers) if answer.status == 201)]
        login = processes[1].call("POST", "/api/v1/auth/login", {"email": email, "password": winner["password"]})
        assert login.status == 200, login.body
        db.session.expire_all()
        assert db.session.scalars(select(Invite.used_at).where(Invite.patient_id == profile.user_id)).one()

    assert not broken, f"{len(broken)} of {ROUNDS} rounds registered more than once: {broken}"


def test_a_refresh_token_presented_to_both_processes_at_once_is_honoured_at_most_once(processes, make, real_now):
    broken = []
    for round_ in range(ROUNDS):
        patient = make.patient()
        tokens = make.tokens(patient)

        answers = on_both_at_once(processes, "POST", "/api/v1/auth/refresh", [None] * (2 * ATTEMPTS_PER_PROCESS),
                                  bearer(tokens["refresh_token"]))

        assert set(statuses(answers)) <= {200, 401}, statuses(answers)
        if statuses(answers).count(200) > 1:
            broken.append((round_, statuses(answers)))
            continue
        # Copies of one token racing look like theft: the session is revoked, whatever was issued meanwhile.
        db.session.expire_all()
        session = db.session.scalars(select(AuthSession).where(AuthSession.user_id == patient.id)).one()
        assert session.revoked_reason == "refresh_reuse"
        for answer in answers:
            if answer.status == 200:
                me = processes[1].call("GET", "/api/v1/me", headers=bearer(answer.body["access_token"]))
                assert me.status == 401

    assert not broken, f"{len(broken)} of {ROUNDS} rounds honoured one refresh token twice: {broken}"


def test_goals_added_through_both_processes_at_once_keep_the_weekly_cap(processes, make, real_now):
    week = week_start_of(real_now.astimezone(ZoneInfo(ZONE)).date())
    broken = []
    for round_ in range(ROUNDS):
        patient = make.patient(timezone=ZONE)
        for n in range(GOALS_PER_WEEK - 1):
            create_goal(patient, week, f"Goal already set {n}")
        auth = make.headers(patient)
        goals = [{"text": f"New goal {n}"} for n in range(2 * ATTEMPTS_PER_PROCESS)]

        answers = on_both_at_once(processes, "POST", "/api/v1/me/goals", goals, auth)

        assert set(statuses(answers)) <= {201, 409}, [a.body for a in answers]
        db.session.expire_all()
        this_week = db.session.scalars(select(WeeklyGoal).where(
            WeeklyGoal.patient_id == patient.id, WeeklyGoal.week_start >= week,
            WeeklyGoal.week_start < week + timedelta(days=7))).all()
        if statuses(answers).count(201) != 1 or len(this_week) != GOALS_PER_WEEK:
            broken.append((round_, len(this_week)))

    assert not broken, f"{len(broken)} of {ROUNDS} rounds broke the cap of {GOALS_PER_WEEK}: (round, goals) {broken}"


def test_edits_of_one_day_sent_through_both_processes_at_once_on_one_version_keep_exactly_one(processes, make,
                                                                                              real_now):
    # The check-in PUT reads its token and body before it takes the writer turn
    # (api.database.writes_after_checks); the version it edits is read under it.
    day = real_now.astimezone(ZoneInfo(ZONE)).date().isoformat()
    broken = []
    for round_ in range(ROUNDS):
        patient = make.patient(timezone=ZONE)
        auth = make.headers(patient)
        assert processes[0].call("PUT", f"/api/v1/me/checkins/{day}", checkin_body(craving=1), auth).status == 201
        edits = [checkin_body(craving=2 + n) for n in range(2 * ATTEMPTS_PER_PROCESS)]

        answers = on_both_at_once(processes, "PUT", f"/api/v1/me/checkins/{day}", edits, {**auth, "If-Match": '"1"'})

        assert set(statuses(answers)) <= {200, 412}, [answer.body for answer in answers]
        db.session.expire_all()
        stored = db.session.scalars(select(Checkin).where(Checkin.patient_id == patient.id)).one()
        kept = [edits[index]["craving"] for index, answer in enumerate(answers) if answer.status == 200]
        if kept != [stored.craving] or stored.version != 2:
            broken.append((round_, statuses(answers), stored.version))

    assert not broken, f"{len(broken)} of {ROUNDS} rounds kept more than one edit of version 1: {broken}"


def test_a_write_request_that_cannot_get_the_write_lock_in_time_answers_503(app, client, make, database_url,
                                                                            monkeypatch):
    """Another process's writer holding the file past the wait: 503 problem+json, nothing half-done.

    (Its audit event cannot get in either while the file stays locked: that is logged.)
    """
    import sqlite3

    from api import database
    from models import Checkin
    from tests.factories import checkin_body, problem

    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("SQLite's file lock")
    monkeypatch.setattr(database, "SQLITE_WRITE_WAIT_SECONDS", 0.3)
    auth = make.headers(make.patient())
    other_process = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        refused = client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json=checkin_body())
    finally:
        other_process.rollback()
        other_process.close()

    problem(refused, 503)
    assert refused.headers["Retry-After"]
    assert db.session.scalars(select(Checkin)).all() == []
    assert client.put("/api/v1/me/checkins/2026-11-23", headers=auth, json=checkin_body()).status_code == 201
