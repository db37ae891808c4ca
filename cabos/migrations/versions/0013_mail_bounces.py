"""mail: the Message-ID map of sent emails, bounces and complaints, reports kept for review

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:09:32.275193
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('received_at', cabos.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_reviews'))
    )
    with op.batch_alter_table('mail_reviews', schema=None) as batch_op:
        batch_op.create_index('ix_mail_reviews_received', ['received_at'], unique=False)

    op.create_table('mail_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.String(length=100), nullable=False),
    sa.Column('step', sa.String(length=100), nullable=False),
    sa.Column('sent_at', cabos.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_mail_messages_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_messages')),
    sa.UniqueConstraint('message_id', name='uq_mail_messages_message_id')
    )
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.create_index('ix_mail_messages_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_mail_messages_sequence_step', ['sequence', 'step'], unique=False)

    op.create_table('mail_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_ref', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('report_key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('received_at', cabos.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_mail_feedback_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_ref'], ['mail_messages.id'], name=op.f('fk_mail_feedback_message_ref_mail_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_feedback')),
    sa.UniqueConstraint('source', 'report_key', name='uq_mail_feedback_source_report')
    )
    with op.batch_alter_table('mail_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_mail_feedback_contact_received', ['contact_id', 'received_at'], unique=False)
        batch_op.create_index('ix_mail_feedback_message', ['message_ref'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mail_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_feedback_message')
        batch_op.drop_index('ix_mail_feedback_contact_received')

    op.drop_table('mail_feedback')
    with op.batch_alter_table('mail_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_messages_sequence_step')
        batch_op.drop_index('ix_mail_messages_contact')

    op.drop_table('mail_messages')
    with op.batch_alter_table('mail_reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_reviews_received')

    op.drop_table('mail_reviews')
