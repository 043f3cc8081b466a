"""Initial schema: raw mail, tickets, participants, messages, references, attachments, quarantine.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blob',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blob'))
    )
    op.create_table('code_counter',
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_code_counter'))
    )
    op.create_table('raw_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=1000), nullable=False),
    sa.Column('envelope_from', sa.String(length=998), nullable=True),
    sa.Column('envelope_rcpts', sa.JSON(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_message')),
    sa.UniqueConstraint('sha256', name=op.f('uq_raw_message_sha256'))
    )
    op.create_index(op.f('ix_raw_message_state'), 'raw_message', ['state'], unique=False)

    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('requester', sa.String(length=320), nullable=False),
    sa.Column('requester_name', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('reopened_count', sa.Integer(), nullable=False),
    sa.Column('linked_ticket_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['linked_ticket_id'], ['ticket.id'], name=op.f('fk_ticket_linked_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('code', name=op.f('uq_ticket_code'))
    )
    op.create_index('ix_ticket_queue_status_updated_at', 'ticket', ['queue', 'status', 'updated_at'], unique=False)
    op.create_index(op.f('ix_ticket_requester'), 'ticket', ['requester'], unique=False)
    op.create_index(op.f('ix_ticket_status'), 'ticket', ['status'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('raw_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sender', sa.String(length=320), nullable=False),
    sa.Column('sender_name', sa.String(length=500), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reply_text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('date_header', UTCDateTime(), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('auto_kind', sa.String(length=16), nullable=True),
    sa.Column('route_rule', sa.String(length=64), nullable=False),
    sa.Column('route_detail', sa.Text(), nullable=False),
    sa.Column('thread_rule', sa.String(length=64), nullable=False),
    sa.Column('thread_detail', sa.Text(), nullable=False),
    sa.Column('defects', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['raw_id'], ['raw_message.id'], name=op.f('fk_message_raw_id_raw_message')),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_message_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('message_id', name=op.f('uq_message_message_id'))
    )
    op.create_index(op.f('ix_message_raw_id'), 'message', ['raw_id'], unique=False)
    op.create_index(op.f('ix_message_ticket_id'), 'message', ['ticket_id'], unique=False)

    op.create_table('participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_participant_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participant')),
    sa.UniqueConstraint('ticket_id', 'address', name=op.f('uq_participant_ticket_id_address'))
    )
    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('raw_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['raw_id'], ['raw_message.id'], name=op.f('fk_quarantine_raw_id_raw_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('raw_id', name=op.f('uq_quarantine_raw_id'))
    )
    op.create_index(op.f('ix_quarantine_state'), 'quarantine', ['state'], unique=False)

    op.create_table('attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.Text(), nullable=True),
    sa.Column('safe_name', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('inline', sa.Boolean(), nullable=False),
    sa.Column('content_id', sa.String(length=998), nullable=True),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], name=op.f('fk_attachment_message_row_id_message')),
    sa.ForeignKeyConstraint(['sha256'], ['blob.sha256'], name=op.f('fk_attachment_sha256_blob')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment'))
    )
    op.create_index(op.f('ix_attachment_message_row_id'), 'attachment', ['message_row_id'], unique=False)
    op.create_index(op.f('ix_attachment_sha256'), 'attachment', ['sha256'], unique=False)

    op.create_table('message_ref',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=998), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], name=op.f('fk_message_ref_message_row_id_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_ref')),
    sa.UniqueConstraint('message_row_id', 'ref', name=op.f('uq_message_ref_message_row_id_ref'))
    )
    op.create_index(op.f('ix_message_ref_ref'), 'message_ref', ['ref'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_message_ref_ref'), table_name='message_ref')

    op.drop_table('message_ref')
    op.drop_index(op.f('ix_attachment_sha256'), table_name='attachment')
    op.drop_index(op.f('ix_attachment_message_row_id'), table_name='attachment')

    op.drop_table('attachment')
    op.drop_index(op.f('ix_quarantine_state'), table_name='quarantine')

    op.drop_table('quarantine')
    op.drop_table('participant')
    op.drop_index(op.f('ix_message_ticket_id'), table_name='message')
    op.drop_index(op.f('ix_message_raw_id'), table_name='message')

    op.drop_table('message')
    op.drop_index(op.f('ix_ticket_status'), table_name='ticket')
    op.drop_index(op.f('ix_ticket_requester'), table_name='ticket')
    op.drop_index('ix_ticket_queue_status_updated_at', table_name='ticket')

    op.drop_table('ticket')
    op.drop_index(op.f('ix_raw_message_state'), table_name='raw_message')

    op.drop_table('raw_message')
    op.drop_table('code_counter')
    op.drop_table('blob')
