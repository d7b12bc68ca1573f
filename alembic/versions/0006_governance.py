"""data governance: export jobs, deployment facts (data region), duty runs, audit retention

Revision ID: 0006
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_s = sqlmodel.sql.sqltypes.AutoString
_json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'exportjob',
        sa.Column('id', _s(length=32), nullable=False),
        sa.Column('workspace_id', _s(length=32), nullable=False),
        sa.Column('scope', _s(length=16), nullable=False),
        sa.Column('requested_by', _s(length=200), nullable=False),
        sa.Column('requested_by_user_id', _s(length=32), nullable=True),
        sa.Column('requested_by_token_id', _s(length=32), nullable=True),
        sa.Column('status', _s(length=16), nullable=False),
        sa.Column('progress_done', sa.Integer(), nullable=False),
        sa.Column('progress_total', sa.Integer(), nullable=False),
        sa.Column('storage', _s(length=16), nullable=False),
        sa.Column('storage_key', _s(length=400), nullable=True),
        sa.Column('storage_region', _s(length=64), nullable=True),
        sa.Column('size_bytes', sa.Integer(), nullable=True),
        sa.Column('sha256', _s(length=64), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('exportjob', schema=None) as batch_op:
        batch_op.create_index('ix_exportjob_workspace_id', ['workspace_id'], unique=False)
        batch_op.create_index('ix_exportjob_status', ['status', 'lease_expires_at'], unique=False)
    op.create_table(
        'deploymentfact',
        sa.Column('key', _s(length=64), nullable=False),
        sa.Column('value', _s(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'dutyrun',
        sa.Column('name', _s(length=64), nullable=False),
        sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('details', _json, nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_retention_days', sa.Integer(), nullable=False, server_default='365'))
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_ws_finished', ['workspace_id', 'finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_ws_finished')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('audit_retention_days')
    op.drop_table('dutyrun')
    op.drop_table('deploymentfact')
    with op.batch_alter_table('exportjob', schema=None) as batch_op:
        batch_op.drop_index('ix_exportjob_status')
        batch_op.drop_index('ix_exportjob_workspace_id')
    op.drop_table('exportjob')
