"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from api import create_app
from models import Base, db


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A brand-new empty database on the same server as the suite's."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"waypoint_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_upgrading_an_empty_database_to_head_matches_the_models(empty_database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    assert _differences(empty_database_url) == []


def test_every_migration_can_be_undone(empty_database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        db.engine.dispose()
    engine = create_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET outcome = 'allowed'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
def test_after_upgrade_the_database_refuses_to_change_or_remove_an_audit_event(
        postgres_only, empty_database_url, statement):
    from sqlalchemy.exc import DBAPIError

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    engine = create_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO audit_events (occurred_at, action, resource, outcome, detail) "
                "VALUES (now(), 'read', 'checkins.PatientCheckins', 'denied', '{}')"))
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT outcome FROM audit_events")).scalars().all() == ["denied"]
    finally:
        engine.dispose()


def _caseload_triggers(url: str) -> dict[str, str]:
    """The triggers keeping caseload_rows honest, by name, with their definitions."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.execute(text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%caseload%'"))
            else:
                rows = connection.execute(text(
                    "SELECT t.tgname, pg_get_triggerdef(t.oid) || ' ' || p.prosrc FROM pg_trigger t "
                    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal AND t.tgname LIKE '%caseload%'"))
            return dict(rows.all())
    finally:
        engine.dispose()


def test_the_migrations_create_the_caseload_triggers_the_models_do(empty_database_url, _schema):
    """Triggers are outside what autogenerate compares: a migrated database must still clear kept rows."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()

    migrated, created = _caseload_triggers(empty_database_url), _caseload_triggers(_schema)

    assert len(created) == (14 if make_url(_schema).get_backend_name() == "sqlite" else 6)
    assert migrated == created


def test_upgrading_gives_every_enrolled_patient_a_caseload_row(empty_database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url})
    with app.app_context():
        upgrade(revision="0005")
        db.engine.dispose()
    engine = create_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO organizations (id, name, edit_window_hours, late_entry_days, "
                                    "invite_valid_hours, alert_thresholds, digest_detail, created_at) "
                                    "VALUES (1, 'Clinic', 72, 30, 72, '{}', false, CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO users (id, organization_id, email, display_name, role, is_active, created_at, "
                "failed_logins) VALUES (7, 1, 'p@example.org', 'P', 'patient', true, CURRENT_TIMESTAMP, 0)"))
            connection.execute(text(
                "INSERT INTO patient_profiles (user_id, timezone, level_of_care, enrolled_at) "
                "VALUES (7, 'UTC', 'iop', CURRENT_TIMESTAMP)"))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT patient_id, generation, figures FROM caseload_rows")).all()
        assert [tuple(row) for row in rows] == [(7, 0, None)]
    finally:
        engine.dispose()
