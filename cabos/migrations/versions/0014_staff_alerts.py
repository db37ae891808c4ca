"""staff: security notices (many failed sign-ins to an account), emailed by the worker

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('staff_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('sent_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_staff_alerts_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_alerts'))
    )
    with op.batch_alter_table('staff_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_alerts_sent_at'), ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_alerts_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_alerts_user_id'))
        batch_op.drop_index(batch_op.f('ix_staff_alerts_sent_at'))
    op.drop_table('staff_alerts')
