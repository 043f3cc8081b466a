"""SLA clocks: deemed receipt, plan and indexed due times on tickets; the ticket status log.

Revision ID: 0004_sla
Revises: 0003_imap
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0004_sla'
down_revision = '0003_imap'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('deemed_received_at', UTCDateTime(), nullable=True))
    op.add_column('ticket', sa.Column('plan', sa.String(length=64), nullable=True))
    op.add_column('ticket', sa.Column('next_due_at', UTCDateTime(), nullable=True))
    op.add_column('ticket', sa.Column('deadline_at', UTCDateTime(), nullable=True))
    op.add_column('ticket', sa.Column('deadline_warn_at', UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_ticket_next_due_at'), 'ticket', ['next_due_at'], unique=False)
    op.create_index(op.f('ix_ticket_deadline_warn_at'), 'ticket', ['deadline_warn_at'], unique=False)
    op.create_table('ticket_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('before', sa.String(length=16), nullable=False),
    sa.Column('after', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_event_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_event'))
    )
    op.create_index(op.f('ix_ticket_event_ticket_id'), 'ticket_event', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ticket_event_ticket_id'), table_name='ticket_event')
    op.drop_table('ticket_event')
    op.drop_index(op.f('ix_ticket_deadline_warn_at'), table_name='ticket')
    op.drop_index(op.f('ix_ticket_next_due_at'), table_name='ticket')
    with op.batch_alter_table('ticket') as batch:
        for column in ('deadline_warn_at', 'deadline_at', 'next_due_at', 'plan', 'deemed_received_at'):
            batch.drop_column(column)
