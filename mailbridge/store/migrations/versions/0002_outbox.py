"""Outbox (mail we send, once per intent) and address health (what bounces told us).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('intent', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('mail_from', sa.String(length=320), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_outbox_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('intent', name=op.f('uq_outbox_intent')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id'))
    )
    op.create_index('ix_outbox_state_next_attempt_at', 'outbox', ['state', 'next_attempt_at'], unique=False)
    op.create_index('ix_outbox_recipient_created_at', 'outbox', ['recipient', 'created_at'], unique=False)
    op.create_index(op.f('ix_outbox_ticket_id'), 'outbox', ['ticket_id'], unique=False)

    op.create_table('address_health',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('undeliverable_until', UTCDateTime(), nullable=True),
    sa.Column('last_status', sa.String(length=16), nullable=False),
    sa.Column('last_bounce_at', UTCDateTime(), nullable=True),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_address_health'))
    )


def downgrade() -> None:
    op.drop_table('address_health')
    op.drop_index(op.f('ix_outbox_ticket_id'), table_name='outbox')
    op.drop_index('ix_outbox_recipient_created_at', table_name='outbox')
    op.drop_index('ix_outbox_state_next_attempt_at', table_name='outbox')
    op.drop_table('outbox')
