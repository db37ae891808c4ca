"""broadcasts: one row per broadcast queued, one per recipient (sent once)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('broadcasts',
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('queued_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('queued_by', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_broadcasts'))
    )
    op.create_table('broadcast_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast', sa.String(length=100), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('next_attempt_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('sending_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('sent_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['broadcast'], ['broadcasts.slug'], name=op.f('fk_broadcast_sends_broadcast_broadcasts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_broadcast_sends_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcast_sends')),
    sa.UniqueConstraint('broadcast', 'contact_id', name='uq_broadcast_sends_broadcast_contact')
    )
    with op.batch_alter_table('broadcast_sends', schema=None) as batch_op:
        batch_op.create_index('ix_broadcast_sends_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_broadcast_sends_ready', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('broadcast_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_broadcast_sends_ready')
        batch_op.drop_index('ix_broadcast_sends_contact')
    op.drop_table('broadcast_sends')
    op.drop_table('broadcasts')
