"""What gunicorn answers before the app: problem+json with the app's security headers.

gunicorn refuses a request line over 4 KB, a header over 8 KB, more than 100
headers or anything that is not HTTP/1.x itself, before the app sees the
request. One gunicorn master with the shipped gunicorn.conf.py (one worker)
serves the whole module; it needs no database for these answers.
"""
import http.client
import json
import secrets
import socket
from dataclasses import dataclass

import pytest

from api import errors, gunicorn_worker, security
from tests import gunicorn

# Written into each refused request: neither the answer nor the log may repeat it.
MARKER = "tidepool-quartz-ferry"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(port: int, request: bytes) -> Answer:
    """Send raw bytes to the server and read its whole answer (it closes the connection after)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return Answer(response.status, {name.lower(): value for name, value in response.getheaders()},
                      response.read())


@pytest.fixture(scope="module")
def gunicorn_port(database_url, _schema, tmp_path_factory):
    """Start the app under gunicorn with the shipped gunicorn.conf.py; stop it whatever happens."""
    folder = tmp_path_factory.mktemp("gunicorn")
    settings = gunicorn.environment(DATABASE_URL=database_url, JWT_SECRET_KEY=secrets.token_urlsafe(48),
                                    GUNICORN_THREADS="2", OUTBOX_DIR=str(folder / "outbox"))
    # Ready when the app itself answers: its 404 for a path it does not have.
    with gunicorn.running(settings, folder, ready_path="/api/v1/nowhere", ready_status=404) as (server,):
        yield server.port, server.log_path


GUNICORN_REFUSALS = {
    "a request line over 4 KB": (f"GET /api/v1/patients?q={MARKER}{'x' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "a header over 8 KB": (f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Note: {MARKER}{'x' * 9000}\r\n\r\n", 431),
    "101 headers": ("GET /api/v1/me HTTP/1.1\r\nHost: x\r\n"
                    + "".join(f"X-{n}: {MARKER}\r\n" for n in range(101)) + "\r\n", 431),
    "not HTTP": (f"HELLO {MARKER}\r\n\r\n", 400),
    "a method in lower case": (f"get /{MARKER} HTTP/1.1\r\nHost: x\r\n\r\n", 400),
}
# Set for each answer, not by the security policy.
PER_ANSWER_HEADERS = {"content-type", "content-length", "connection", "date", "server", "x-request-id"}


@pytest.mark.parametrize("request_text, status", GUNICORN_REFUSALS.values(), ids=GUNICORN_REFUSALS.keys())
def test_a_request_gunicorn_refuses_gets_a_problem_with_the_apps_security_headers(gunicorn_port, request_text,
                                                                                  status):
    port, log_path = gunicorn_port
    apps_own = exchange(port, b"GET /api/v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    refused = exchange(port, request_text.encode("latin-1"))

    assert refused.status == status
    assert refused.headers["content-type"] == "application/problem+json"
    body = json.loads(refused.body)
    assert body["status"] == status and body["type"].startswith("https://waypoint.example/problems/")
    assert {name: value for name, value in refused.headers.items() if name not in PER_ANSWER_HEADERS} == {
        name: value for name, value in apps_own.headers.items() if name not in PER_ANSWER_HEADERS}
    assert MARKER not in refused.body.decode()
    assert MARKER not in log_path.read_text(errors="replace")


def test_the_workers_copies_of_the_apps_constants_are_the_apps(client):
    response = client.get("/api/v1/nowhere")

    assert gunicorn_worker.PROBLEM_TYPE_BASE == errors.PROBLEM_TYPE_BASE
    assert gunicorn_worker.HSTS == security.HSTS
    apps_headers = {name: value for name, value in response.headers.items() if name.lower() not in PER_ANSWER_HEADERS}
    assert apps_headers == gunicorn_worker.SECURITY_HEADERS
