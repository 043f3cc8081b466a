"""Instance heartbeats: one row per running `serve`, read by `mailbridge status`.

Revision ID: 0009_ops
Revises: 0005_owner
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from mailbridge.store.types import UTCDateTime

revision = '0009_ops'
down_revision = '0005_owner'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('heartbeat',
    sa.Column('instance', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('beat_at', UTCDateTime(), nullable=False),
    sa.Column('stopped_at', UTCDateTime(), nullable=True),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('instance', name=op.f('pk_heartbeat'))
    )


def downgrade() -> None:
    op.drop_table('heartbeat')
