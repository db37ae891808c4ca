"""intent: current state per contact or visitor, and the history of mode and grade changes

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('intent_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('visitor_id', sa.String(length=32), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('fit_points', sa.Float(), nullable=True),
    sa.Column('interest', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('evidence_until', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('computed_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('mode_since', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('grade_since', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('rules_version', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_intent_states_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], name=op.f('fk_intent_states_visitor_id_visitors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_states')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_intent_states_contact_id')),
    sa.UniqueConstraint('visitor_id', name=op.f('uq_intent_states_visitor_id'))
    )
    with op.batch_alter_table('intent_states', schema=None) as batch_op:
        batch_op.create_index('ix_intent_states_mode_grade', ['mode', 'grade'], unique=False)

    op.create_table('intent_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('from_value', sa.String(length=16), nullable=True),
    sa.Column('to_value', sa.String(length=16), nullable=True),
    sa.Column('cause', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('recorded_at', cabos.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_intent_changes_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_changes'))
    )
    with op.batch_alter_table('intent_changes', schema=None) as batch_op:
        batch_op.create_index('ix_intent_changes_contact_time', ['contact_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_intent_changes_kind_time', ['kind', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intent_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_intent_changes_kind_time')
        batch_op.drop_index('ix_intent_changes_contact_time')
    op.drop_table('intent_changes')
    with op.batch_alter_table('intent_states', schema=None) as batch_op:
        batch_op.drop_index('ix_intent_states_mode_grade')
    op.drop_table('intent_states')
