"""caseload rows: each patient's caseload figures, kept until a write makes them stale

The caseload recomputed every patient's figures from four tables on every
view: 70 ms of CPU for 100 patients, growing with the history. A row per
patient holds the figures last computed; triggers on the four tables the
figures read clear it inside the writer's own transaction, so no code path
can leave a stale row behind (models.caseload).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# As of this revision; models.caseload builds the same (tests/test_migrations.py compares).
SOURCES = ("checkins", "assessment_responses", "alerts", "attendance_records")
STALE = "UPDATE caseload_rows SET generation = generation + 1, figures = NULL WHERE patient_id = {row}.patient_id"
PROFILE_STALE = STALE.replace("{row}.patient_id", "NEW.user_id")


def _sqlite_triggers():
    yield ("CREATE TRIGGER IF NOT EXISTS patient_profiles_caseload_row AFTER INSERT ON patient_profiles "
           "BEGIN INSERT INTO caseload_rows (patient_id, generation) VALUES (NEW.user_id, 0); END")
    yield ("CREATE TRIGGER IF NOT EXISTS patient_profiles_update_stale_caseload AFTER UPDATE ON patient_profiles "
           f"BEGIN {PROFILE_STALE}; END")
    for table in SOURCES:
        for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            yield (f"CREATE TRIGGER IF NOT EXISTS {table}_{operation.lower()}_stale_caseload "
                   f"AFTER {operation} ON {table} BEGIN {STALE.format(row=row)}; END")


def _postgresql_triggers():
    yield ("CREATE OR REPLACE FUNCTION caseload_row_for_new_patient() RETURNS trigger LANGUAGE plpgsql AS $$ "
           "BEGIN INSERT INTO caseload_rows (patient_id, generation) VALUES (NEW.user_id, 0); RETURN NULL; END $$")
    yield ("CREATE OR REPLACE TRIGGER patient_profiles_caseload_row AFTER INSERT ON patient_profiles "
           "FOR EACH ROW EXECUTE FUNCTION caseload_row_for_new_patient()")
    yield ("CREATE OR REPLACE FUNCTION caseload_row_stale_profile() RETURNS trigger LANGUAGE plpgsql AS $$ "
           f"BEGIN {PROFILE_STALE}; RETURN NULL; END $$")
    yield ("CREATE OR REPLACE TRIGGER patient_profiles_stale_caseload AFTER UPDATE ON patient_profiles "
           "FOR EACH ROW EXECUTE FUNCTION caseload_row_stale_profile()")
    yield ("CREATE OR REPLACE FUNCTION caseload_row_stale() RETURNS trigger LANGUAGE plpgsql AS $$ "
           f"BEGIN IF TG_OP = 'DELETE' THEN {STALE.format(row='OLD')}; "
           f"ELSE {STALE.format(row='NEW')}; END IF; RETURN NULL; END $$")
    for table in SOURCES:
        yield (f"CREATE OR REPLACE TRIGGER {table}_stale_caseload AFTER INSERT OR UPDATE OR DELETE ON {table} "
               "FOR EACH ROW EXECUTE FUNCTION caseload_row_stale()")


def upgrade():
    op.create_table('caseload_rows',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('figures', sa.Text(), nullable=True),
    sa.Column('as_of', sa.Date(), nullable=True),
    sa.Column('inputs', sa.String(length=64), nullable=True),
    sa.Column('risk_level', sa.String(length=10), nullable=True),
    sa.Column('risk_rank', sa.Integer(), nullable=True),
    sa.Column('risk_reasons', sa.Integer(), nullable=True),
    sa.Column('last_checkin', sa.Date(), nullable=True),
    sa.Column('current_streak', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient_profiles.user_id'], name=op.f('fk_caseload_rows_patient_id_patient_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_caseload_rows'))
    )
    op.execute("INSERT INTO caseload_rows (patient_id, generation) SELECT user_id, 0 FROM patient_profiles")
    dialect = op.get_bind().dialect.name
    for statement in (_sqlite_triggers() if dialect == "sqlite" else _postgresql_triggers()):
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS patient_profiles_caseload_row")
        op.execute("DROP TRIGGER IF EXISTS patient_profiles_update_stale_caseload")
        for table in SOURCES:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{operation}_stale_caseload")
    else:
        op.execute("DROP TRIGGER IF EXISTS patient_profiles_caseload_row ON patient_profiles")
        op.execute("DROP TRIGGER IF EXISTS patient_profiles_stale_caseload ON patient_profiles")
        op.execute("DROP FUNCTION IF EXISTS caseload_row_stale_profile()")
        for table in SOURCES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stale_caseload ON {table}")
        op.execute("DROP FUNCTION IF EXISTS caseload_row_stale()")
        op.execute("DROP FUNCTION IF EXISTS caseload_row_for_new_patient()")
    op.drop_table('caseload_rows')
