"""checkins: a partial index on use days

The weekly summaries need each patient's longest abstinent run before the
days they read row by row. On SQLite a window over every earlier check-in
cost about as much as reading the rows; the (patient_id, day) index gives
every day and this index, a few percent of the rows, the use days, so the
runs come without reading a row (services.history._earlier_checkins).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    # The same WHERE as models.checkin: SQLite matches a partial index by its term.
    op.create_index('ix_checkins_use_days', 'checkins', ['patient_id', 'day'], unique=False,
                    sqlite_where=sa.text('used_substance = 1'), postgresql_where=sa.text('used_substance'))


def downgrade():
    op.drop_index('ix_checkins_use_days', table_name='checkins')
