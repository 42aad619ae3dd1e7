"""login lockouts per address, trusted login devices

Ten wrong passwords locked the account, and then refused its owner's right
password too: anyone who knew a patient's e-mail could keep them out. The
count now lives per address (login_lockouts, kept for unknown addresses as
well, so a paused sign-in tells no one who is enrolled), and a device that
has signed in before (login_devices, OWASP's device cookie) passes the
address's pause with a count of its own. The users' own counters are
read no more; a lockout under way when this runs is forgotten.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_lockouts',
    sa.Column('address_digest', sa.String(length=64), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('address_digest', name=op.f('pk_login_lockouts'))
    )
    op.create_table('login_devices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('address_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_devices'))
    )
    with op.batch_alter_table('login_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_devices_address_digest'), ['address_digest'], unique=False)


def downgrade():
    with op.batch_alter_table('login_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_devices_address_digest'))

    op.drop_table('login_devices')
    op.drop_table('login_lockouts')
