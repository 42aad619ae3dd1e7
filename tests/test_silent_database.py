"""A database host that stops answering: 503 within seconds, liveness throughout, recovery without a restart.

The database sits behind tests/silent_link.py, a proxy on loopback that goes
silent on command: nothing answers, nothing is refused, nothing is closed.
The apps here run the shipped settings (no timeouts in the URL or the
engine options), so what they show is what production gets. PostgreSQL only:
SQLite is a local file, not a host that can stop answering.

Every wait in these tests is bounded: a request that hangs fails the test
after seconds instead of hanging the suite, and the link speaks again before
the test ends whatever happens.
"""
import http.client
import json
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api import create_app
from models import db
from tests import gunicorn
from tests.factories import problem
from tests.silent_link import SilentLink

# The shipped bounds give a 503 after about 5 s (a pooled connection's check,
# 2 s, then a new connection's, 3 s) or 6 s (an answer in flight); this is
# generous for a loaded machine and far below an outage's length.
PROMPT = 10
# Long enough to tell "answered" from "hung", short enough for the suite.
GIVE_UP = 30


@pytest.fixture
def link(database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a database host that stops answering is a PostgreSQL situation; SQLite is a local file")
    link = SilentLink.to(database_url)
    yield link
    link.speak_again()
    link.close()


@pytest.fixture
def silent_app(link, _schema):
    """The app as shipped, its database behind the link."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": link.url(_schema), "TESTING": True,
                      "RATELIMIT_STORAGE_URI": "memory://"})
    yield app
    link.speak_again()
    with app.app_context():
        db.engine.dispose()


def answered_within(seconds: float, call):
    """Return (response, seconds taken) of call, or fail if it has not answered within seconds."""
    outcome = {}

    def run():
        started = time.monotonic()
        outcome["response"] = call()
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"no answer within {seconds} s: the request waits as long as the database is silent")
    return outcome["response"], outcome["seconds"]


def test_a_request_while_the_database_is_silent_answers_503_and_the_next_one_after_succeeds(
        silent_app, link, make):
    patient = make.patient()
    headers = make.headers(patient)
    client = silent_app.test_client()
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # a pooled connection through the link

    link.go_silent()
    answer, waited = answered_within(GIVE_UP, lambda: client.get("/api/v1/me", headers=headers))
    ready, _ = answered_within(GIVE_UP, lambda: client.get("/readyz"))
    alive = client.get("/healthz")
    link.speak_again()
    after = client.get("/api/v1/me", headers=headers)

    body = problem(answer, 503)
    assert body["type"].endswith("/database-unavailable")
    assert answer.headers["Retry-After"] == "5"
    assert waited < PROMPT
    assert problem(ready, 503)["type"].endswith("/database-unavailable")
    assert alive.status_code == 200
    # No restart: the pool replaces what the silence broke.
    assert after.status_code == 200
    assert after.json["id"] == patient.id


def test_an_answer_that_never_comes_ends_in_503(silent_app, link):
    """The link goes silent between two statements of one request: the second waits seconds, not the outage."""
    def in_flight():
        db.session.execute(text("SELECT 1"))
        link.go_silent()
        db.session.execute(text("SELECT 2"))
        return {"status": "unexpected"}

    silent_app.add_url_rule("/in-flight", "test.in_flight", in_flight)
    client = silent_app.test_client()

    answer, waited = answered_within(GIVE_UP, lambda: client.get("/in-flight"))
    link.speak_again()

    problem(answer, 503)
    assert answer.headers["Retry-After"] == "5"
    assert waited < PROMPT
    assert client.get("/readyz").status_code == 200


def test_a_request_waits_out_the_silent_database_once(silent_app, link, monkeypatch):
    """Its audit event would try to connect again after the 503: that would be a second wait."""
    from api.database_waits import BoundedConnection

    attempts = []
    connect = BoundedConnection.connect
    monkeypatch.setattr(BoundedConnection, "connect",
                        classmethod(lambda _cls, *args, **kwargs: attempts.append(1) or connect(*args, **kwargs)))
    client = silent_app.test_client()
    assert client.get("/readyz").status_code == 200
    attempts.clear()

    link.go_silent()
    answer, _ = answered_within(GIVE_UP, lambda: client.post(
        "/api/v1/auth/login", json={"email": "someone@example.org", "password": "a long enough password"}))

    problem(answer, 503)
    assert len(attempts) == 1


def test_a_probe_is_one_whole_get_or_head_of_healthz():
    from api.gunicorn_worker import liveness_method

    assert liveness_method(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == b"GET"
    assert liveness_method(b"HEAD /healthz HTTP/1.0\r\n\r\n") == b"HEAD"
    # Anything else goes to the app's threads as before.
    for head in (b"GET /readyz HTTP/1.1\r\n\r\n", b"POST /healthz HTTP/1.1\r\n\r\n",
                 b"GET /healthz?x=1 HTTP/1.1\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                 b"GET /healthz HTTP/1.1\r\n\r\nGET /api/v1/me HTTP/1.1\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b""):
        assert liveness_method(head) is None, head


# --- under gunicorn, as shipped -------------------------------------------------------------

def _call(port: int, path: str, timeout: float) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def gunicorn_port(link, _schema, tmp_path):
    """gunicorn with the shipped gunicorn.conf.py, one worker of two threads, its database behind the link."""
    settings = gunicorn.environment(DATABASE_URL=link.url(_schema), GUNICORN_THREADS="2", LOG_FORMAT="text",
                                    OUTBOX_DIR=str(tmp_path / "outbox"))
    with gunicorn.running(settings, tmp_path) as (server,):
        try:
            yield server.port
        finally:
            # A silent database would hold gunicorn's graceful stop until its kill.
            link.speak_again()


def test_under_gunicorn_liveness_answers_while_every_thread_waits_on_the_silent_database(gunicorn_port, link):
    link.go_silent()
    stuck = {}

    def wait_on_database(number):
        try:
            stuck[number] = _call(gunicorn_port, "/readyz", GIVE_UP)
        except OSError as error:
            stuck[number] = error

    # Two threads, four requests: both threads held, two more queued behind them.
    requests = [threading.Thread(target=wait_on_database, args=(number,)) for number in range(4)]
    for request in requests:
        request.start()
    time.sleep(1)
    status, headers, body = _call(gunicorn_port, "/healthz", PROMPT)
    for request in requests:
        request.join(GIVE_UP + 5)
    link.speak_again()
    ready_again = _call(gunicorn_port, "/readyz", PROMPT)[0]

    assert status == 200 and json.loads(body) == {"status": "ok"}
    # The app's own answer: its security headers, never cached.
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    for number in range(4):
        assert not isinstance(stuck[number], Exception), stuck[number]
        answer_status, answer_headers, _ = stuck[number]
        assert answer_status == 503
        assert answer_headers["Content-Type"] == "application/problem+json"
        assert answer_headers["Retry-After"] == "5"
    assert ready_again == 200
