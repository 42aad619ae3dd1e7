"""A lost database answers 503 with a problem body, and the app recovers without a restart."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import make_url

from api import create_app
from models import db


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
