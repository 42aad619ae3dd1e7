"""e-mail unique per organization, not across Waypoint

Refusing an address that another organization holds told the enrolling
program that the person is a patient (or staff) elsewhere: under 42 CFR
Part 2 that is itself a disclosure. Login tells same-address accounts apart
by password.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:44:51.362362

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_email'), type_='unique')
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_organization_id_email'), ['organization_id', 'email'])



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_organization_id_email'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_users_email'))
        batch_op.create_unique_constraint(batch_op.f('uq_users_email'), ['email'])

