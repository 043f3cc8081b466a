"""Ticket ownership: the agent who owns a ticket (notices and escalations go to them).

Revision ID: 0005_owner
Revises: 0004_sla
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_owner'
down_revision = '0004_sla'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('owner', sa.String(length=320), nullable=True))
    op.create_index(op.f('ix_ticket_owner'), 'ticket', ['owner'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_owner'), table_name='ticket')
    op.drop_column('ticket', 'owner')
