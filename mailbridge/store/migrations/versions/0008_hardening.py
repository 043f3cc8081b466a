"""Hardening: durable processing attempts on raw mail, and which instance leased an outgoing mail.

`raw_attempt` counts the times a worker started processing a raw message, committed before
it starts (beside the row lock the worker holds on PostgreSQL, hence a table of its own), so that a message that kills the worker process (out of memory) is counted
even though the worker's memory is gone, and is quarantined after a few such crashes.
`outbox.claimed_by` names the instance that leased a mail, so that a restarted instance
resumes its own leases at once instead of waiting for them to expire.

Revision ID: 0008_hardening
Revises: 0007_escalation
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0008_hardening'
down_revision = '0007_escalation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('raw_attempt',
    sa.Column('raw_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('raw_id', name=op.f('pk_raw_attempt'))
    )
    op.add_column('outbox', sa.Column('claimed_by', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column('outbox', 'claimed_by')
    op.drop_table('raw_attempt')
