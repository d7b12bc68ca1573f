"""hardening: replay markers in the database

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'replaymarker',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    with op.batch_alter_table('replaymarker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replaymarker_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('replaymarker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replaymarker_expires_at'))
    op.drop_table('replaymarker')
