"""accounts: invitations, emailed tokens, system mail outbox, OIDC identities, sign-in policy

Also adds User.email_verified_at (existing users are marked verified: they were created by an
operator or signed up before verification existed), UserSession.user_agent/ip/last_seen_at and
ApiToken.expires_at.

Revision ID: 0007
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

S = sqlmodel.sql.sqltypes.AutoString
TS = sa.DateTime(timezone=True)
JSONType = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'invitation',
        sa.Column('id', S(length=32), nullable=False),
        sa.Column('workspace_id', S(length=32), nullable=False),
        sa.Column('email', S(length=320), nullable=False),
        sa.Column('role', S(length=16), nullable=False),
        sa.Column('token_hash', S(length=64), nullable=False),
        sa.Column('invited_by', S(length=200), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('expires_at', TS, nullable=False),
        sa.Column('last_sent_at', TS, nullable=True),
        sa.Column('sent_count', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('accepted_at', TS, nullable=True),
        sa.Column('accepted_by', S(length=32), nullable=True),
        sa.Column('revoked_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_invitation_workspace_id', 'invitation', ['workspace_id'])
    op.create_index('ix_invitation_ws_email', 'invitation', ['workspace_id', 'email'])

    op.create_table(
        'accounttoken',
        sa.Column('id', S(length=32), nullable=False),
        sa.Column('user_id', S(length=32), nullable=False),
        sa.Column('purpose', S(length=16), nullable=False),
        sa.Column('token_hash', S(length=64), nullable=False),
        sa.Column('email', S(length=320), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('expires_at', TS, nullable=False),
        sa.Column('used_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_accounttoken_user_id', 'accounttoken', ['user_id'])

    op.create_table(
        'systemmail',
        sa.Column('id', S(length=32), nullable=False),
        sa.Column('workspace_id', S(length=32), nullable=True),
        sa.Column('kind', S(length=32), nullable=False),
        sa.Column('to_email', S(length=320), nullable=False),
        sa.Column('subject', S(length=300), nullable=False),
        sa.Column('body_encrypted', sa.Text(), nullable=False),
        sa.Column('status', S(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_to', S(length=500), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('sent_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_systemmail_status_created', 'systemmail', ['status', 'created_at'])

    op.create_table(
        'useridentity',
        sa.Column('id', S(length=32), nullable=False),
        sa.Column('user_id', S(length=32), nullable=False),
        sa.Column('provider', S(length=64), nullable=False),
        sa.Column('subject', S(length=255), nullable=False),
        sa.Column('email', S(length=320), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('last_login_at', TS, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'subject', name='uq_identity_provider_subject'),
    )
    op.create_index('ix_useridentity_user_id', 'useridentity', ['user_id'])

    op.create_table(
        'workspaceauthpolicy',
        sa.Column('workspace_id', S(length=32), nullable=False),
        sa.Column('allowed_domains', JSONType, nullable=False),
        sa.Column('auto_join_role', S(length=16), nullable=False),
        sa.Column('require_sso', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('updated_at', TS, nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id']),
        sa.PrimaryKeyConstraint('workspace_id'),
    )

    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', TS, nullable=True))
    op.execute(sa.text('UPDATE "user" SET email_verified_at = created_at'))
    with op.batch_alter_table('usersession') as batch_op:
        batch_op.add_column(sa.Column('user_agent', S(length=300), nullable=True))
        batch_op.add_column(sa.Column('ip', S(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', TS, nullable=True))
    with op.batch_alter_table('apitoken') as batch_op:
        batch_op.add_column(sa.Column('expires_at', TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('apitoken') as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('usersession') as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('ip')
        batch_op.drop_column('user_agent')
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('email_verified_at')
    op.drop_table('workspaceauthpolicy')
    op.drop_index('ix_useridentity_user_id', table_name='useridentity')
    op.drop_table('useridentity')
    op.drop_index('ix_systemmail_status_created', table_name='systemmail')
    op.drop_table('systemmail')
    op.drop_index('ix_accounttoken_user_id', table_name='accounttoken')
    op.drop_table('accounttoken')
    op.drop_index('ix_invitation_ws_email', table_name='invitation')
    op.drop_index('ix_invitation_workspace_id', table_name='invitation')
    op.drop_table('invitation')
