"""flow control: step paths and iterations, parent runs, approvals, resume tokens

Additive, so the previous version keeps serving while it runs: new nullable columns, new
tables, and the step-row uniqueness moves from (run, key) to (run, path) with existing rows'
path filled from their key (a loop's inner step has one row per iteration).

Revision ID: 0011
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table('steprun', schema=None) as batch_op:
        batch_op.add_column(sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column('iteration', sa.Integer(), nullable=True))
    op.execute("UPDATE steprun SET path = step_key WHERE path IS NULL")
    with op.batch_alter_table('steprun', schema=None) as batch_op:
        batch_op.drop_constraint('uq_steprun_run_key', type_='unique')
        batch_op.create_unique_constraint('uq_steprun_run_path', ['run_id', 'path'])

    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('parent_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.create_index(batch_op.f('ix_run_parent_run_id'), ['parent_run_id'], unique=False)

    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flow', _JSON, nullable=True))

    op.create_table('approval',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('step_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('approver_role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'step_path', name='uq_approval_run_path')
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_run_id'), ['run_id'], unique=False)
        batch_op.create_index('ix_approval_ws_status_created', ['workspace_id', 'status', 'created_at'], unique=False)

    op.create_table('waittoken',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('step_path', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('result', _JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], ),
    sa.PrimaryKeyConstraint('token_hash'),
    sa.UniqueConstraint('run_id', 'step_path', name='uq_waittoken_run_path')
    )
    with op.batch_alter_table('waittoken', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waittoken_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waittoken', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waittoken_run_id'))
    op.drop_table('waittoken')
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_ws_status_created')
        batch_op.drop_index(batch_op.f('ix_approval_run_id'))
    op.drop_table('approval')
    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.drop_column('flow')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_parent_run_id'))
        batch_op.drop_column('parent_path')
        batch_op.drop_column('parent_run_id')
    with op.batch_alter_table('steprun', schema=None) as batch_op:
        batch_op.drop_constraint('uq_steprun_run_path', type_='unique')
        batch_op.create_unique_constraint('uq_steprun_run_key', ['run_id', 'step_key'])
        batch_op.drop_column('iteration')
        batch_op.drop_column('path')
