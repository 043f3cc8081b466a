"""The mail of each outbox row in a table of its own, `outbox_content`, its existing mail moved there.

SQLite rewrites a whole row, its overflow pages too, whenever an UPDATE changes the row's size,
and the sender's claim (`claimed_by`) and record (`state`, `sent_at`) both did: every mail we
send (14 KB on average, up to hundreds) was written twice more into the WAL. Measured with the
sender bench under strace: sending 471 mails wrote 42 MB to the database before, 0.6 MB after.

Revision ID: 0011_outbox_content
Revises: 0010_scale_indexes
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0011_outbox_content'
down_revision = '0010_scale_indexes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_content',
    sa.Column('outbox_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_content_outbox_id_outbox'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('outbox_id', name=op.f('pk_outbox_content'))
    )
    op.execute('INSERT INTO outbox_content (outbox_id, content) SELECT id, content FROM outbox')
    # A plain DROP COLUMN (SQLite 3.35 and later): a batch copy of `outbox` would drop the table,
    # and the foreign key's cascade would take the mail just moved with it.
    op.drop_column('outbox', 'content')


def downgrade() -> None:
    op.add_column('outbox', sa.Column('content', sa.LargeBinary(), nullable=True))
    op.execute('UPDATE outbox SET content = (SELECT content FROM outbox_content WHERE outbox_id = outbox.id)')
    op.drop_table('outbox_content')
    with op.batch_alter_table('outbox') as batch:
        batch.alter_column('content', existing_type=sa.LargeBinary(), nullable=False)
