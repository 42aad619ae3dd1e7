from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, ForeignKey, MetaData, String, Text, bindparam, event, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, begin_writing, db
from .user import PatientProfile


class CaseloadRow(Base):
    """A patient's caseload figures as last computed, kept until a write or a new day makes them stale.

    The figures are a function of the patient's check-ins, questionnaire
    answers, alerts and attendance (the SOURCES below), the profile (zone,
    enrolment), the organization's thresholds and the patient's local day.
    The database's own triggers bump `generation` and clear `figures`
    inside every write to a source or to the profile, so no write path can
    forget to; a reader keeps what it computed only while the generation it
    read is still there (services.caseload). Every patient has a row from
    enrolment on.
    """

    __tablename__ = "caseload_rows"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient_profiles.user_id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    # The figures as the caseload row's JSON (services.caseload), null when stale.
    figures: Mapped[str | None] = mapped_column(Text)
    # The patient's local day, and a digest of the thresholds and the code they were computed with.
    as_of: Mapped[date | None] = mapped_column(Date)
    inputs: Mapped[str | None] = mapped_column(String(64))
    # What ranking and filtering read, so a page is sorted without decoding figures.
    risk_level: Mapped[str | None] = mapped_column(String(10))
    risk_rank: Mapped[int | None]
    risk_reasons: Mapped[int | None]
    last_checkin: Mapped[date | None] = mapped_column(Date)
    current_streak: Mapped[int | None]


# The tables whose rows the caseload figures read; each has a patient_id.
SOURCES = ("checkins", "assessment_responses", "alerts", "attendance_records")


def caseload_trigger_ddl(dialect: str) -> list[str]:
    """Return the statements that create the triggers keeping caseload_rows honest.

    Migration 0006 creates the same ones (a test compares the two). SQLite
    drops a table's triggers when Alembic's batch mode copies the table: a
    later migration that batch-alters a source must create them again.
    """
    stale = "UPDATE caseload_rows SET generation = generation + 1, figures = NULL WHERE patient_id = {row}.patient_id"
    profile_stale = stale.replace("{row}.patient_id", "NEW.user_id")
    if dialect == "sqlite":
        statements = [
            "CREATE TRIGGER IF NOT EXISTS patient_profiles_caseload_row AFTER INSERT ON patient_profiles "
            "BEGIN INSERT INTO caseload_rows (patient_id, generation) VALUES (NEW.user_id, 0); END",
            "CREATE TRIGGER IF NOT EXISTS patient_profiles_update_stale_caseload AFTER UPDATE ON patient_profiles "
            f"BEGIN {profile_stale}; END",
        ]
        for table in SOURCES:
            for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_{operation.lower()}_stale_caseload "
                    f"AFTER {operation} ON {table} BEGIN {stale.format(row=row)}; END")
        return statements
    statements = [
        "CREATE OR REPLACE FUNCTION caseload_row_for_new_patient() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO caseload_rows (patient_id, generation) VALUES (NEW.user_id, 0); RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER patient_profiles_caseload_row AFTER INSERT ON patient_profiles "
        "FOR EACH ROW EXECUTE FUNCTION caseload_row_for_new_patient()",
        "CREATE OR REPLACE FUNCTION caseload_row_stale_profile() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {profile_stale}; RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER patient_profiles_stale_caseload AFTER UPDATE ON patient_profiles "
        "FOR EACH ROW EXECUTE FUNCTION caseload_row_stale_profile()",
        "CREATE OR REPLACE FUNCTION caseload_row_stale() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF TG_OP = 'DELETE' THEN {stale.format(row='OLD')}; "
        f"ELSE {stale.format(row='NEW')}; END IF; RETURN NULL; END $$",
    ]
    for table in SOURCES:
        statements.append(
            f"CREATE OR REPLACE TRIGGER {table}_stale_caseload AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION caseload_row_stale()")
    return statements


@event.listens_for(Base.metadata, "after_create")
def _create_caseload_triggers(_metadata: MetaData, connection: Connection, **_kw: Any) -> None:
    # After every table: the triggers sit on tables created after caseload_rows.
    for statement in caseload_trigger_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)  # as DDL() would run it: no parameters, no bind syntax


_PROFILE = PatientProfile.__table__.c
# FOR NO KEY UPDATE: what an UPDATE of the row would take. It queues the
# patient's writers behind one another but not the inserts whose foreign
# key merely points at the profile (they take FOR KEY SHARE).
_LOCK_PATIENT = (select(_PROFILE.user_id).where(_PROFILE.user_id == bindparam("patient_id"))
                 .with_for_update(key_share=True))


def lock_patient(patient_id: int) -> None:
    """Take the patient's write lock: the first lock of any write to their records.

    The triggers above update the patient's caseload row inside every write
    to a source, so each writer ends up holding that row too. A writer that
    held a check-in (or an alert) while waiting for it, against one that held
    it while waiting for that check-in, deadlocked: three phones syncing
    overlapping days did, one in two rounds. Taken first, the patient's
    profile row puts every writer of the patient in one queue, whatever they
    lock after it; goals and questionnaire orders already lock it first.
    PostgreSQL: the row, FOR NO KEY UPDATE. SQLite: its one write lock,
    from now to the commit (a no-op inside a write request, which holds it).
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        begin_writing()
    else:
        connection.execute(_LOCK_PATIENT, {"patient_id": patient_id})
