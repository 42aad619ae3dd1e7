"""Liveness and readiness, as a load balancer sees them."""
from sqlalchemy.engine import make_url

from api import create_app
from models import db
from tests.factories import problem


def test_a_live_process_with_its_database_is_ready(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_without_its_database_a_process_is_alive_but_not_ready(database_url):
    """The balancer stops sending traffic, but nothing restarts the process: it recovers on its own.

    Runs on both backends: the unreachable database is a PostgreSQL server
    that is not there (port 1 on loopback refuses at once).
    """
    unreachable = make_url("postgresql+psycopg://waypoint@127.0.0.1:1/waypoint")
    if make_url(database_url).get_backend_name() == "postgresql":
        unreachable = make_url(database_url).set(host="127.0.0.1", port=1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": unreachable.render_as_string(hide_password=False),
                      "TESTING": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                                    "connect_args": {"connect_timeout": 2}}})
    with app.app_context():
        client = app.test_client()
        alive, ready = client.get("/healthz"), client.get("/readyz")
        db.engine.dispose()

    assert alive.status_code == 200
    body = problem(ready, 503)
    assert body["type"].endswith("/database-unavailable")
    assert ready.headers["Retry-After"] == "5"
    # A load balancer probes every few seconds: the answer must not linger in a cache.
    assert ready.headers["Cache-Control"] == "no-store"
