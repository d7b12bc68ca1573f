"""oauth connect states and grants

Revision ID: 0009
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('oauthstate',
    sa.Column('state_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('session_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('connection_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('connection_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('connection_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('verifier_encrypted', sa.Text(), nullable=False),
    sa.Column('redirect_uri', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('state_hash')
    )
    with op.batch_alter_table('oauthstate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauthstate_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('oauthgrant',
    sa.Column('connection_id', sa.String(length=32), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('status_message', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id')
    )


def downgrade() -> None:
    op.drop_table('oauthgrant')
    with op.batch_alter_table('oauthstate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauthstate_workspace_id'))
    op.drop_table('oauthstate')
