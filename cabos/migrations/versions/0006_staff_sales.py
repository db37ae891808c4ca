"""staff users and API tokens; handoffs, outcomes and the sales outbox

Revision ID: 0006
Revises: 0003, 0004
Create Date: 2026-11-28 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0006'
down_revision: str | Sequence[str] | None = ('0003', '0004')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', cabos.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['staff_users.id'], name=op.f('fk_api_tokens_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('open_contact_id', sa.Integer(), nullable=True),
    sa.Column('assigned_to', sa.Integer(), nullable=True),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('due_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('top_problem', sa.String(length=200), nullable=True),
    sa.Column('first_response_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('outcome_reason', sa.String(length=200), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('won_on', sa.Date(), nullable=True),
    sa.Column('closed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to'], ['staff_users.id'], name=op.f('fk_handoffs_assigned_to_staff_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_handoffs_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs')),
    sa.UniqueConstraint('open_contact_id', name=op.f('uq_handoffs_open_contact_id'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_assignee_status', ['assigned_to', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_handoffs_contact_time', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index('ix_handoffs_status_time', ['status', 'created_at'], unique=False)

    op.create_table('handoff_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('won_on', sa.Date(), nullable=True),
    sa.Column('occurred_at', cabos.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_handoff_outcomes_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_handoff_outcomes_handoff_id_handoffs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_handoff_outcomes_staff_user_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_outcomes'))
    )
    with op.batch_alter_table('handoff_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_handoff_outcomes_handoff', ['handoff_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_handoff_outcomes_kind_time', ['kind', 'occurred_at'], unique=False)

    op.create_table('sales_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('last_attempt_at', cabos.db.UTCDateTime(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_sales_deliveries_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_sales_deliveries_handoff_id_handoffs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_deliveries'))
    )
    with op.batch_alter_table('sales_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_deliveries_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index('ix_sales_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_deliveries_handoff_id'), ['handoff_id'], unique=False)
        batch_op.create_index('ix_sales_deliveries_time', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sales_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_sales_deliveries_time')
        batch_op.drop_index(batch_op.f('ix_sales_deliveries_handoff_id'))
        batch_op.drop_index('ix_sales_deliveries_due')
        batch_op.drop_index(batch_op.f('ix_sales_deliveries_contact_id'))
    op.drop_table('sales_deliveries')
    with op.batch_alter_table('handoff_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_handoff_outcomes_kind_time')
        batch_op.drop_index('ix_handoff_outcomes_handoff')
    op.drop_table('handoff_outcomes')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_status_time')
        batch_op.drop_index('ix_handoffs_contact_time')
        batch_op.drop_index('ix_handoffs_assignee_status')
    op.drop_table('handoffs')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')
    op.drop_table('staff_users')
