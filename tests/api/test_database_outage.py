"""A lost database answers 503 with a problem body, and the app recovers without a restart."""
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api import create_app
from models import db
from tests.factories import problem


def test_an_unreachable_database_answers_503_problem_details(make, database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("an unreachable server is a PostgreSQL situation; SQLite is a local file")
    unreachable = make_url(database_url).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": unreachable, "TESTING": True,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                                    "connect_args": {"connect_timeout": 2}}})
    with app.app_context():
        answer = app.test_client().post("/api/v1/auth/login",
                                        json={"email": "a@example.org", "password": "whatever"})
        ready = app.test_client().get("/readyz")
        db.engine.dispose()

    assert answer.status_code == 503
    assert answer.content_type == "application/problem+json"
    assert answer.headers["Retry-After"] == "5"
    assert ready.status_code == 503


def test_connections_killed_under_the_app_are_replaced_on_the_next_request(postgres_only, client, make):
    patient = make.patient()
    headers = make.headers(patient)
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    # The database restarts (or a proxy drops us): every other backend is gone.
    with db.engine.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        connection.commit()
    db.session.remove()

    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_a_bad_statement_is_a_500_not_an_outage(app, client, make):
    """A missing table is a bug: 503 would tell the phone to retry it forever."""
    def broken():
        db.session.execute(text("SELECT * FROM no_such_table"))

    app.add_url_rule("/broken", "test.broken", broken)

    answer = client.get("/broken")

    assert answer.status_code == 500
    assert answer.content_type == "application/problem+json"
    assert "Retry-After" not in answer.headers


def test_a_busy_sqlite_file_is_a_503(app, client, database_url):
    if make_url(database_url).get_backend_name() != "sqlite":
        pytest.skip("SQLite's own busy error")
    import sqlite3

    def busy():
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode, error.sqlite_errorname = sqlite3.SQLITE_BUSY, "SQLITE_BUSY"
        raise OperationalError("COMMIT", {}, error)

    app.add_url_rule("/busy", "test.busy", busy)

    answer = client.get("/busy")

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


# --- the bounds on every wait (api/database_waits.py) ------------------------------------

def _parameters_of_a_connection(database_url: str) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        with db.engine.connect() as connection:
            parameters = connection.connection.dbapi_connection.info.get_parameters()
        db.engine.dispose()
    return parameters


def test_connections_get_the_shipped_bounds_unless_the_url_names_its_own(postgres_only, database_url):
    shipped = _parameters_of_a_connection(database_url)
    own = _parameters_of_a_connection(make_url(database_url).update_query_dict(
        {"connect_timeout": "10", "keepalives_idle": "30"}).render_as_string(hide_password=False))

    assert {name: shipped.get(name) for name in ("connect_timeout", "keepalives", "keepalives_idle",
                                                 "keepalives_interval", "keepalives_count", "tcp_user_timeout")} \
        == {"connect_timeout": "3", "keepalives": "1", "keepalives_idle": "5",
            "keepalives_interval": "2", "keepalives_count": "2", "tcp_user_timeout": "5000"}
    assert (own["connect_timeout"], own["keepalives_idle"], own["tcp_user_timeout"]) == ("10", "30", "5000")


def test_a_request_runs_under_the_statement_limit_and_other_work_does_not(postgres_only, app, client):
    """A weekly pass, a migration or the bench may rightly run a long statement; a request may not."""
    app.add_url_rule("/statement-timeout", "test.statement_timeout",
                     lambda: {"limit": db.session.scalar(text("SHOW statement_timeout"))})

    outside = db.session.scalar(text("SHOW statement_timeout"))
    db.session.commit()  # the connection goes back to the pool, for the request to take
    inside = client.get("/statement-timeout").json["limit"]

    assert (outside, inside) == ("0", "5s")


def test_a_statement_past_the_limit_is_cancelled_by_the_server_and_answers_503(postgres_only, database_url,
                                                                                caplog):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True,
                      "RATELIMIT_STORAGE_URI": "memory://", "DATABASE_STATEMENT_TIMEOUT": 1})
    app.add_url_rule("/slow", "test.slow", lambda: db.session.execute(text("SELECT pg_sleep(10)")) and {})
    with app.app_context():
        answer = app.test_client().get("/slow")
        db.engine.dispose()

    problem(answer, 503)
    assert answer.headers["Retry-After"] == "5"
    # The server's own cancel, not the client's deadline: the server stopped the work too.
    assert "database unavailable: QueryCanceled" in caplog.text


def test_a_lock_timeout_on_a_healthy_database_is_a_500_not_an_outage(postgres_only, app, client):
    """Contention is no outage: "come back in 5 s" would send every phone back into the same queue."""
    def contended():
        db.session.execute(text("SET LOCAL lock_timeout = '100ms'"))
        db.session.execute(text("SELECT pg_advisory_xact_lock(4242)"))
        return {}

    app.add_url_rule("/contended", "test.contended", contended)
    with db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(4242)"))
        answer = client.get("/contended")
        holder.execute(text("SELECT pg_advisory_unlock(4242)"))

    problem(answer, 500)
    assert "Retry-After" not in answer.headers


def test_a_request_that_finds_every_pooled_connection_taken_answers_503(_schema, make):
    patient = make.patient()
    headers = make.headers(patient)
    app = create_app({"SQLALCHEMY_DATABASE_URI": _schema, "TESTING": True, "RATELIMIT_STORAGE_URI": "memory://",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.5}})
    with app.app_context():
        with db.engine.connect():  # the pool's one connection, taken
            answer = app.test_client().get("/api/v1/me", headers=headers)
        db.engine.dispose()

    problem(answer, 503)
    assert answer.headers["Retry-After"] == "5"


def test_the_shipped_pool_wait_is_bounded(_schema):
    app = create_app({"SQLALCHEMY_DATABASE_URI": _schema, "TESTING": True})
    with app.app_context():
        assert db.engine.pool.timeout() <= 5
