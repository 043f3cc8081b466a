"""IMAP poller state: one row per (account, folder) with UIDVALIDITY, last UID and backlog boundary.

Revision ID: 0003_imap
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0003_imap'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imap_mailbox',
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('folder', sa.String(length=1000), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('backlog_uid', sa.BigInteger(), nullable=False),
    sa.Column('first_seen_at', UTCDateTime(), nullable=False),
    sa.Column('rescanned_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account', 'folder', name=op.f('pk_imap_mailbox'))
    )


def downgrade() -> None:
    op.drop_table('imap_mailbox')
