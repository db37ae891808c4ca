"""guide link emails queued by the form, sent by the worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('guide_mails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('guide', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
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
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_guide_mails_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guide_mails'))
    )
    with op.batch_alter_table('guide_mails', schema=None) as batch_op:
        batch_op.create_index('ix_guide_mails_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_guide_mails_ready', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('guide_mails', schema=None) as batch_op:
        batch_op.drop_index('ix_guide_mails_ready')
        batch_op.drop_index('ix_guide_mails_contact')
    op.drop_table('guide_mails')
