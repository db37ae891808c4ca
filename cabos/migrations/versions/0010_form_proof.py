"""answers waiting for proof of the address; confirmation emails

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cabos.db

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pending_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('form', sa.String(length=100), nullable=False),
    sa.Column('content_kind', sa.String(length=20), nullable=False),
    sa.Column('content_slug', sa.String(length=200), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('touch', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', cabos.db.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', cabos.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_pending_submissions_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_submissions'))
    )
    with op.batch_alter_table('pending_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_pending_submissions_contact', ['contact_id', 'created_at'], unique=False)
    with op.batch_alter_table('guide_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_guide_mails_pending_id_pending_submissions'), 'pending_submissions',
                                    ['pending_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('guide_mails', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_guide_mails_pending_id_pending_submissions'), type_='foreignkey')
        batch_op.drop_column('pending_id')
    with op.batch_alter_table('pending_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_pending_submissions_contact')
    op.drop_table('pending_submissions')
