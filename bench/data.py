"""The harness's own databases: made by migrations, filled in bulk, dropped at the end.

Two data sets:

* the clinic (P1, P2, P4, P5): the demo clinic seeded twice, 500 patients
  with 90 days and 500 with 365 days of check-ins, plus bench clinicians whose
  care teams hold exactly 50, 100 and 500 of them, and patients with no
  history yet who write check-ins under load. It is seeded once in SQLite
  and copied row for row into PostgreSQL with COPY (seeding PostgreSQL
  through the ORM takes a minute; the copy a few seconds), so both
  databases hold the same clinic, logins included.
* the weekly set (P3): N patients x 365 days generated inside the database by
  one INSERT ... SELECT over a day series, a few seconds for millions of rows.
"""
import logging
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

import psycopg
from flask_migrate import upgrade
from psycopg import sql
from sqlalchemy import Integer, Table, func, insert, select, text, update
from sqlalchemy.engine import make_url

from api import create_app
from api.auth import issue_tokens
from models import Base, CareTeamMember, Checkin, LevelOfCare, Organization, PatientProfile, Role, User, db
from services.days import local_today
from services.demo import seed_demo_clinic
from services.passwords import hash_password
from services.sessions import start_session

CARE_TEAM_SIZES = (50, 100, 500)
HISTORY_DAYS = (90, 365)
WRITER_TIMEZONE = "America/New_York"
# A year-of-history clinic lives beside the 90-day one; the demo seeder
# names its clinic and accounts the same every time, so the first is renamed.
_YEAR_ORGANIZATION = "Waypoint Bench Clinic (a year of history)"
_YEAR_EMAIL_PREFIX = "year."


@dataclass
class ClinicLogins:
    """Access tokens for everyone the measurements act as."""

    caseload: dict[str, str] = field(default_factory=dict)  # "100x90" -> clinician token
    writers: list[str] = field(default_factory=list)  # patients with no check-ins yet
    fresh: list[str] = field(default_factory=list)  # more of them, for the sync figure

    def to_dict(self) -> dict:
        return {"caseload": self.caseload, "writers": self.writers, "fresh": self.fresh}


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def bench_app(database_url: str, jwt_secret: str, **settings):
    """Return the real app on this database, with tokens that outlive a run (and any other settings given)."""
    return create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "JWT_SECRET_KEY": jwt_secret,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(hours=6), **settings,
    })


def migrate(app) -> None:
    """Bring the database to the latest revision, without Alembic's INFO lines."""
    logging.disable(logging.INFO)  # survives the fileConfig() in migrations/env.py
    try:
        with app.app_context():
            upgrade()
    finally:
        logging.disable(logging.NOTSET)


# --- the clinic ---------------------------------------------------------------------

def build_clinic(database_url: str, jwt_secret: str, now: datetime, writers: int, fresh: int,
                 progress=print) -> ClinicLogins:
    """Migrate an empty database and fill it with the clinic; return the logins."""
    app = bench_app(database_url, jwt_secret)
    migrate(app)
    with app.app_context():
        # The year first, then renamed, so the 90-day clinic keeps the demo's names.
        progress("  seeding 500 patients x 365 days ...")
        year = seed_demo_clinic(now, patients=max(CARE_TEAM_SIZES), days=365)
        if year is None:
            raise RuntimeError("the bench database already holds the demo clinic")
        db.session.execute(update(Organization).where(Organization.id == year.organization_id)
                           .values(name=_YEAR_ORGANIZATION))
        db.session.execute(update(User).where(User.organization_id == year.organization_id)
                           .values(email=_YEAR_EMAIL_PREFIX + User.email))
        db.session.commit()
        progress("  seeding 500 patients x 90 days ...")
        quarter = seed_demo_clinic(now, patients=max(CARE_TEAM_SIZES), days=90)
        if quarter is None:
            raise RuntimeError("the bench database already holds the demo clinic")
        # 90 days of an offline queue must be accepted (the sync figure).
        db.session.execute(update(Organization).where(Organization.id == quarter.organization_id)
                           .values(late_entry_days=120))
        db.session.commit()

        password_hash = hash_password(secrets.token_urlsafe(16))
        clinicians = {}
        for organization_id, sizes, days in ((quarter.organization_id, CARE_TEAM_SIZES, 90),
                                            (year.organization_id, (max(CARE_TEAM_SIZES),), 365)):
            patient_ids = list(db.session.scalars(
                select(PatientProfile.user_id).join(User, User.id == PatientProfile.user_id)
                .where(User.organization_id == organization_id).order_by(PatientProfile.user_id)
            ))
            for size in sizes:
                clinician = User(organization_id=organization_id, email=f"caseload{size}x{days}@bench.waypoint",
                                 display_name=f"Bench clinician {size}x{days}", role=Role.clinician,
                                 password_hash=password_hash, created_at=now)
                db.session.add(clinician)
                db.session.flush()
                db.session.execute(insert(cast(Table, CareTeamMember.__table__)), [
                    {"patient_id": patient_id, "clinician_id": clinician.id, "added_at": now}
                    for patient_id in patient_ids[:size]
                ])
                clinicians[f"{size}x{days}"] = clinician

        progress(f"  adding {writers + fresh} patients with no check-ins yet ...")
        # Their own clinician: on a measured caseload they would change its size.
        lead = User(organization_id=quarter.organization_id, email="writers@bench.waypoint",
                    display_name="Bench clinician for the writers", role=Role.clinician,
                    password_hash=password_hash, created_at=now)
        db.session.add(lead)
        db.session.flush()
        new_patients = []
        for number in range(writers + fresh):
            new_patients.append(User(
                organization_id=quarter.organization_id, email=f"writer{number}@bench.waypoint",
                display_name=f"Bench writer {number}", role=Role.patient,
                password_hash=password_hash, created_at=now - timedelta(days=200),
            ))
        db.session.add_all(new_patients)
        db.session.flush()
        db.session.execute(insert(cast(Table, PatientProfile.__table__)), [
            {"user_id": user.id, "timezone": WRITER_TIMEZONE, "recovery_start_date": (now - timedelta(days=200)).date(),
             "level_of_care": LevelOfCare.iop.name, "enrolled_at": now - timedelta(days=200),
             "enrolled_by_id": lead.id}
            for user in new_patients
        ])
        db.session.execute(insert(cast(Table, CareTeamMember.__table__)), [
            {"patient_id": user.id, "clinician_id": lead.id, "added_at": now} for user in new_patients
        ])
        db.session.commit()

        logins = ClinicLogins()
        for key, clinician in clinicians.items():
            logins.caseload[key] = _token(clinician, now)
        tokens = [_token(user, now) for user in new_patients]
        logins.writers, logins.fresh = tokens[:writers], tokens[writers:]
        db.session.commit()
        db.engine.dispose()
    return logins


def _token(user, now: datetime) -> str:
    """Log the user in without a password round (argon2 costs ~0.1 s a login)."""
    tokens = issue_tokens(user)
    start_session(user, tokens["refresh_jti"], now, tokens["session_id"])
    return tokens["access_token"]


def writer_days(now: datetime, count: int = 28) -> list[str]:
    """Days a writer may fill in: today and back, all inside the late-entry window."""
    today = local_today(now, WRITER_TIMEZONE)
    return [(today - timedelta(days=offset)).isoformat() for offset in range(count)]


def copy_sqlite_to_postgres(sqlite_path: str, postgres_url: str, jwt_secret: str) -> int:
    """Copy every table of the SQLite clinic into a migrated PostgreSQL database; return rows."""
    migrate(bench_app(postgres_url, jwt_secret))
    tables = Base.metadata.sorted_tables
    source = sqlite3.connect(sqlite_path)
    copied = 0
    with psycopg.connect(libpq_url(postgres_url)) as target:
        # SQLite holds naive UTC instants; foreign keys were checked there.
        target.execute("SET TIME ZONE 'UTC'")
        target.execute("SET session_replication_role = replica")
        target.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t.name) for t in tables)))
        for table in tables:
            columns = [column.name for column in table.columns]
            query = "SELECT {} FROM \"{}\"".format(", ".join(f'"{c}"' for c in columns), table.name)  # noqa: S608 - names from the model
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c in columns))
            with target.cursor().copy(statement) as copy:
                for row in source.execute(query):
                    copy.write_row(row)
                    copied += 1
            for column in table.primary_key.columns:
                if len(table.primary_key.columns) == 1 and isinstance(column.type, Integer):
                    target.execute(sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({table}, {column}), "
                        "COALESCE((SELECT MAX({ident}) FROM {tident}), 0) + 1, false) "
                        "WHERE pg_get_serial_sequence({table}, {column}) IS NOT NULL"
                    ).format(table=sql.Literal(table.name), column=sql.Literal(column.name),
                             ident=sql.Identifier(column.name), tident=sql.Identifier(table.name)))
        target.commit()
    source.close()
    vacuum_analyze(postgres_url)
    return copied


# --- the weekly set ---------------------------------------------------------------------

_WEEKLY_ORGANIZATION = "Waypoint Bench Weekly"
_WEEKLY_TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London")

# Deterministic "noise" from the patient and day numbers; about one day in
# ten has no check-in and one in 25 reports use.
_WEEKLY_SELECT = """
SELECT p.user_id, {day}, (p.user_id * 7 + d.i * 3 + d.i / 5) % 11, (p.user_id * 5 + d.i * 2 + d.i / 7) % 11,
       4 + ((p.user_id + d.i) % 21) * 0.25, 1 + (p.user_id + d.i) % 5, {used},
       CASE WHEN {used_test} THEN {one_substance} ELSE {empty} END,
       CASE (p.user_id + d.i) % 4 WHEN 0 THEN {skills_a} WHEN 1 THEN {skills_b}
            WHEN 2 THEN {empty} ELSE {skills_c} END,
       {empty}, CASE (p.user_id + d.i) % 3 WHEN 0 THEN {trigger} ELSE {empty} END,
       {true}, {false}, NULL, {false}, 1, {created}, {created}
FROM patient_profiles p JOIN users u ON u.id = p.user_id {days_join}
WHERE u.organization_id = :organization_id AND (p.user_id * 31 + d.i * 17) % 10 <> 0
"""
_CHECKIN_COLUMNS = ("patient_id, day, craving, mood, sleep_hours, sleep_quality, used_substance, substances, "
                    "coping_skills, custom_coping_skills, triggers, medication_taken, self_harm_thoughts, "
                    "note, late, version, created_at, updated_at")


def build_weekly(database_url: str, jwt_secret: str, patients: int, days: int, now: datetime,
                 progress=print) -> int:
    """Migrate and fill a database with `patients` x `days` of check-ins; return the row count."""
    app = bench_app(database_url, jwt_secret)
    migrate(app)
    with app.app_context():
        organization = Organization(name=_WEEKLY_ORGANIZATION, created_at=now)
        db.session.add(organization)
        db.session.flush()
        start = now - timedelta(days=days + 30)
        db.session.execute(insert(cast(Table, User.__table__)), [
            {"organization_id": organization.id, "email": f"weekly{number}@bench.waypoint",
             "display_name": f"Weekly patient {number}", "role": Role.patient.name, "password_hash": None,
             "is_active": True, "created_at": start}
            for number in range(patients)
        ])
        ids = db.session.scalars(select(User.id).where(User.organization_id == organization.id)
                                 .order_by(User.id)).all()
        db.session.execute(insert(cast(Table, PatientProfile.__table__)), [
            {"user_id": user_id, "timezone": _WEEKLY_TIMEZONES[number % len(_WEEKLY_TIMEZONES)],
             "recovery_start_date": start.date(), "level_of_care": LevelOfCare.iop.name, "enrolled_at": start}
            for number, user_id in enumerate(ids)
        ])
        progress(f"  generating {patients} x {days} check-ins in the database ...")
        dialect = db.engine.dialect.name
        statement = _weekly_insert(dialect)
        if dialect == "postgresql":
            # Millions of rows through the caseload triggers (one UPDATE each)
            # took ten times the insert; the caseload rows the profiles' trigger
            # made are stale already (no figures), which is all the check-ins'
            # triggers would make them. Superuser only, as the bench connects.
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(text(statement), {"organization_id": organization.id,
                                             "today": now.date().isoformat(), "days": days})
        db.session.commit()
        rows = db.session.scalar(select(func.count()).select_from(Checkin))
        db.engine.dispose()
    if database_url.startswith("sqlite"):
        # A SQLite URL without a path is an in-memory database.
        with sqlite3.connect(make_url(database_url).database or ":memory:") as connection:
            connection.execute("ANALYZE")
    else:
        vacuum_analyze(database_url)
    return rows or 0


def _weekly_insert(dialect: str) -> str:
    if dialect == "postgresql":
        return f"INSERT INTO checkins ({_CHECKIN_COLUMNS})" + _WEEKLY_SELECT.format(
            day="CAST(:today AS date) - d.i", used="(p.user_id * 13 + d.i * 7) % 25 = 0",
            used_test="(p.user_id * 13 + d.i * 7) % 25 = 0", one_substance="'[\"alcohol\"]'::json",
            empty="'[]'::json", skills_a="'[\"mindfulness\", \"exercise\"]'::json",
            skills_b="'[\"urge_surfing\"]'::json",
            skills_c="'[\"reached_out\", \"journaling\", \"exercise\"]'::json",
            trigger="'[\"stress\"]'::json", true="true", false="false",
            created="((CAST(:today AS date) - d.i) + time '20:00') AT TIME ZONE 'UTC'",
            days_join="CROSS JOIN generate_series(0, CAST(:days AS integer) - 1) AS d(i)",
        )
    return (
        "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < :days - 1) "  # noqa: S608 - the bench's own fixed text
        f"INSERT INTO checkins ({_CHECKIN_COLUMNS})" + _WEEKLY_SELECT.format(
            day="date(:today, '-' || d.i || ' days')", used="(p.user_id * 13 + d.i * 7) % 25 = 0",
            used_test="(p.user_id * 13 + d.i * 7) % 25 = 0", one_substance="'[\"alcohol\"]'", empty="'[]'",
            skills_a="'[\"mindfulness\", \"exercise\"]'", skills_b="'[\"urge_surfing\"]'",
            skills_c="'[\"reached_out\", \"journaling\", \"exercise\"]'", trigger="'[\"stress\"]'",
            true="1", false="0",
            created="strftime('%Y-%m-%d %H:%M:%f000', :today, '-' || d.i || ' days', '+20 hours')",
            days_join="CROSS JOIN d",
        )
    )


# --- PostgreSQL databases ------------------------------------------------------------------

def libpq_url(sqlalchemy_url: str) -> str:
    """Return the URL psycopg takes for a SQLAlchemy one."""
    url = make_url(sqlalchemy_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def postgres_reachable(server_url: str) -> str | None:
    """Return None when the server answers, else why not."""
    try:
        with psycopg.connect(libpq_url(server_url), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0]


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def vacuum_analyze(postgres_url: str) -> None:
    """Set hint bits and statistics now, so the first timed scan does not pay for them."""
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
