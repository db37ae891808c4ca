"""dashboard daily rollup: reader days, content days, contact days, refresh state

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dashboard_reader_days',
    sa.Column('chain', sa.String(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('prev_day', sa.Date(), nullable=False),
    sa.Column('visitors', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('chain', 'day', 'prev_day', name=op.f('pk_dashboard_reader_days'))
    )
    op.create_table('dashboard_content_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('content_kind', sa.String(length=16), nullable=False),
    sa.Column('content_slug', sa.String(length=200), nullable=False),
    sa.Column('readings', sa.Integer(), nullable=False),
    sa.Column('read_to_end', sa.Integer(), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    # The engaged-time histogram, one column per bucket (cabos.dashboard.readers.EDGES).
    *[sa.Column(f'b{i}', sa.Integer(), nullable=False) for i in range(36)],
    sa.PrimaryKeyConstraint('day', 'content_kind', 'content_slug', name=op.f('pk_dashboard_content_days'))
    )
    op.create_table('dashboard_contact_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('measure', sa.String(length=16), nullable=False),
    sa.Column('dimension', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=220), nullable=False),
    sa.Column('contacts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'measure', 'dimension', 'key', name=op.f('pk_dashboard_contact_days'))
    )
    op.create_table('dashboard_refresh',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('through', sa.Date(), nullable=False),
    sa.Column('refreshed_at', cabos.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dashboard_refresh'))
    )


def downgrade() -> None:
    op.drop_table('dashboard_refresh')
    op.drop_table('dashboard_contact_days')
    op.drop_table('dashboard_content_days')
    op.drop_table('dashboard_reader_days')
