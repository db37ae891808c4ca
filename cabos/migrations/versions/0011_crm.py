"""CRM sync: the records each handoff became, the deal-change cursors, one push row per handoff and CRM

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:14.298830
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('crm_cursors',
    sa.Column('crm', sa.String(length=32), nullable=False),
    sa.Column('position', sa.String(length=64), nullable=False),
    sa.Column('updated_at', cabos.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('crm', name=op.f('pk_crm_cursors'))
    )
    op.create_table('crm_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crm', sa.String(length=32), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('company_id', sa.String(length=64), nullable=True),
    sa.Column('deal_id', sa.String(length=64), nullable=True),
    sa.Column('note_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('pushed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_crm_links_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_crm_links_handoff_id_handoffs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_links')),
    sa.UniqueConstraint('crm', 'handoff_id', name='uq_crm_links_handoff')
    )
    with op.batch_alter_table('crm_links', schema=None) as batch_op:
        batch_op.create_index('ix_crm_links_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_crm_links_deal', ['crm', 'deal_id'], unique=False)

    with op.batch_alter_table('sales_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=96), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_sales_deliveries_dedupe_key'), ['dedupe_key'])



def downgrade() -> None:
    with op.batch_alter_table('sales_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_sales_deliveries_dedupe_key'), type_='unique')
        batch_op.drop_column('dedupe_key')

    with op.batch_alter_table('crm_links', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_links_deal')
        batch_op.drop_index('ix_crm_links_contact')

    op.drop_table('crm_links')
    op.drop_table('crm_cursors')
