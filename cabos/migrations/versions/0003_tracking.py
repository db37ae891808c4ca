"""tracking: daily view counts per content, drop counts per reason

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('content_views',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('content_kind', sa.String(length=16), nullable=False),
    sa.Column('content_slug', sa.String(length=200), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('untracked', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'content_kind', 'content_slug', name=op.f('pk_content_views'))
    )
    op.create_table('tracking_drops',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'reason', name=op.f('pk_tracking_drops'))
    )


def downgrade() -> None:
    op.drop_table('tracking_drops')
    op.drop_table('content_views')
