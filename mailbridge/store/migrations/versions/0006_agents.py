"""Agents by mail: who opened a ticket for the customer, and when a phone ticket's confirmation is due.

Revision ID: 0006_agents
Revises: 0009_ops
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0006_agents'
down_revision = '0009_ops'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('opened_by', sa.String(length=320), nullable=True))
    op.add_column('ticket', sa.Column('confirm_due_at', UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_ticket_confirm_due_at'), 'ticket', ['confirm_due_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_confirm_due_at'), table_name='ticket')
    op.drop_column('ticket', 'confirm_due_at')
    op.drop_column('ticket', 'opened_by')
