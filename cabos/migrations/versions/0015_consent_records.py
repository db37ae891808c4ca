"""proof of consent (double opt-in) and mailing-list subscriptions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consent_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('form', sa.String(length=100), nullable=False),
    sa.Column('content', sa.String(length=220), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('text_version', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('given_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('confirmed_how', sa.String(length=32), nullable=False),
    sa.Column('withdrawn_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('withdrawn_how', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_consent_records_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_records'))
    )
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.create_index('ix_consent_records_contact', ['contact_id', 'confirmed_at'], unique=False)
    op.create_table('list_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('list', sa.String(length=100), nullable=False),
    sa.Column('subscribed_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('unsubscribed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_list_subscriptions_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_list_subscriptions')),
    sa.UniqueConstraint('contact_id', 'list', name='uq_list_subscriptions_contact_list')
    )


def downgrade() -> None:
    op.drop_table('list_subscriptions')
    with op.batch_alter_table('consent_records', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_records_contact')
    op.drop_table('consent_records')
