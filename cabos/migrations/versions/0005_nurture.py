"""nurture: enrolments, the outbox (one row per contact, sequence, step and round), the events cursor

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('nurture_cursors',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('updated_at', cabos.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_nurture_cursors'))
    )
    op.create_table('nurture_enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.String(length=100), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('next_step', sa.String(length=100), nullable=True),
    sa.Column('step_index', sa.Integer(), nullable=False),
    sa.Column('next_due_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('enrolled_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('exit_reason', sa.String(length=32), nullable=False),
    sa.Column('trigger', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_nurture_enrolments_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nurture_enrolments')),
    sa.UniqueConstraint('contact_id', 'sequence', 'round', name='uq_nurture_enrolments_contact_sequence_round')
    )
    with op.batch_alter_table('nurture_enrolments', schema=None) as batch_op:
        # The tick reads due rows through this index only (next_due_at is NULL once a row is not active).
        batch_op.create_index('ix_nurture_enrolments_due', ['next_due_at'], unique=False)

    op.create_table('nurture_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.String(length=100), nullable=False),
    sa.Column('step', sa.String(length=100), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('due_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('sending_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('sent_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_nurture_outbox_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['enrolment_id'], ['nurture_enrolments.id'], name=op.f('fk_nurture_outbox_enrolment_id_nurture_enrolments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nurture_outbox')),
    sa.UniqueConstraint('contact_id', 'sequence', 'step', 'round', name='uq_nurture_outbox_contact_sequence_step_round')
    )
    with op.batch_alter_table('nurture_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_nurture_outbox_enrolment', ['enrolment_id'], unique=False)
        batch_op.create_index('ix_nurture_outbox_ready', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('nurture_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_nurture_outbox_ready')
        batch_op.drop_index('ix_nurture_outbox_enrolment')
    op.drop_table('nurture_outbox')
    with op.batch_alter_table('nurture_enrolments', schema=None) as batch_op:
        batch_op.drop_index('ix_nurture_enrolments_due')
    op.drop_table('nurture_enrolments')
    op.drop_table('nurture_cursors')
