"""Escalation: the ticket's next escalation look (indexed), the steps run, the SMS sent.

Revision ID: 0007_escalation
Revises: 0006_agents
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0007_escalation'
down_revision = '0006_agents'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('ticket', sa.Column('escalate_at', UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_ticket_escalate_at'), 'ticket', ['escalate_at'], unique=False)
    op.create_table('escalation_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('ladder', sa.String(length=64), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('clock', sa.String(length=32), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('ran_at', UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_escalation_step_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_step')),
    sa.UniqueConstraint('ticket_id', 'key', name=op.f('uq_escalation_step_ticket_id_key'))
    )
    op.create_index(op.f('ix_escalation_step_ticket_id'), 'escalation_step', ['ticket_id'], unique=False)
    op.create_table('sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('intent', sa.String(length=200), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('provider_id', sa.String(length=200), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['step_id'], ['escalation_step.id'], name=op.f('fk_sms_step_id_escalation_step')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_sms_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms')),
    sa.UniqueConstraint('intent', name=op.f('uq_sms_intent'))
    )
    op.create_index('ix_sms_state_next_attempt_at', 'sms', ['state', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_sms_step_id'), 'sms', ['step_id'], unique=False)
    op.create_index(op.f('ix_sms_ticket_id'), 'sms', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sms_ticket_id'), table_name='sms')
    op.drop_index(op.f('ix_sms_step_id'), table_name='sms')
    op.drop_index('ix_sms_state_next_attempt_at', table_name='sms')
    op.drop_table('sms')
    op.drop_index(op.f('ix_escalation_step_ticket_id'), table_name='escalation_step')
    op.drop_table('escalation_step')
    op.drop_index(op.f('ix_ticket_escalate_at'), table_name='ticket')
    with op.batch_alter_table('ticket') as batch:
        batch.drop_column('escalate_at')
