"""subject tests: the subject line each broadcast send got, and one row per A/B test (its winner)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subject_tests',
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('started_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('winner', sa.Integer(), nullable=True),
    sa.Column('decided_at', cabos.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_subject_tests'))
    )
    with op.batch_alter_table('broadcast_sends', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('tested', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('broadcast_sends', schema=None) as batch_op:
        batch_op.drop_column('tested')
        batch_op.drop_column('variant')
    op.drop_table('subject_tests')
