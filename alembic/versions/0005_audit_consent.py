"""audit hash chain, audit streaming, contacts, consent and suppression

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 10:10:00

Existing audit rows are chained in place (oldest first per workspace) so `flowmate audit verify`
passes on an upgraded database; rows written before this revision are vouched for from here on.
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

S = sqlmodel.sql.sqltypes.AutoString


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _backfill_chain() -> None:
    from engine.services.audit_chain import GENESIS, row_hash

    bind = op.get_bind()
    audit = sa.table("auditlog", sa.column("id"), sa.column("workspace_id"), sa.column("actor"),
                     sa.column("action"), sa.column("object_type"), sa.column("object_id"),
                     sa.column("changes", _json()), sa.column("created_at", sa.DateTime(timezone=True)),
                     sa.column("chain"), sa.column("seq"), sa.column("prev_hash"), sa.column("hash"))
    heads = sa.table("auditchainhead", sa.column("chain"), sa.column("seq"), sa.column("last_hash"))
    state: dict[str, tuple[int, str]] = {}
    rows = bind.execute(sa.select(audit).order_by(audit.c.created_at, audit.c.id)).mappings().all()
    for row in rows:
        chain = row["workspace_id"] or ""
        seq, prev = state.get(chain, (0, GENESIS))
        seq += 1
        digest = row_hash(chain=chain, seq=seq, row_id=row["id"], workspace_id=row["workspace_id"],
                          actor=row["actor"], action=row["action"], object_type=row["object_type"],
                          object_id=row["object_id"], changes=row["changes"], created_at=row["created_at"],
                          prev_hash=prev)
        bind.execute(audit.update().where(audit.c.id == row["id"]).values(chain=chain, seq=seq, prev_hash=prev,
                                                                           hash=digest))
        state[chain] = (seq, digest)
    for chain, (seq, digest) in state.items():
        bind.execute(heads.insert().values(chain=chain, seq=seq, last_hash=digest))


def upgrade() -> None:
    op.create_table('auditchainhead',
    sa.Column('chain', S(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('last_hash', S(length=64), nullable=False),
    sa.Column('pruned_through_seq', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('pruned_last_hash', S(length=64), nullable=False, server_default=''),
    sa.PrimaryKeyConstraint('chain')
    )
    with op.batch_alter_table('auditlog', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', S(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('prev_hash', S(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('hash', S(length=64), nullable=False, server_default=''))
    _backfill_chain()
    with op.batch_alter_table('auditlog', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_audit_chain_seq', ['chain', 'seq'])

    op.create_table('auditstream',
    sa.Column('id', S(length=32), nullable=False),
    sa.Column('workspace_id', S(length=32), nullable=False),
    sa.Column('kind', S(length=16), nullable=False),
    sa.Column('config', _json(), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('cursor_seq', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', S(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id')
    )
    op.create_table('contact',
    sa.Column('id', S(length=32), nullable=False),
    sa.Column('workspace_id', S(length=32), nullable=False),
    sa.Column('email', S(length=320), nullable=True),
    sa.Column('phone', S(length=32), nullable=True),
    sa.Column('name', S(length=200), nullable=False),
    sa.Column('email_consent', S(length=16), nullable=False),
    sa.Column('sms_consent', S(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'email', name='uq_contact_ws_email'),
    sa.UniqueConstraint('workspace_id', 'phone', name='uq_contact_ws_phone')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_workspace_id'), ['workspace_id'], unique=False)
    op.create_table('consentevent',
    sa.Column('id', S(length=32), nullable=False),
    sa.Column('workspace_id', S(length=32), nullable=False),
    sa.Column('contact_id', S(length=32), nullable=False),
    sa.Column('channel', S(length=8), nullable=False),
    sa.Column('status', S(length=16), nullable=False),
    sa.Column('source', S(length=200), nullable=False),
    sa.Column('wording', sa.Text(), nullable=False),
    sa.Column('actor', S(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consentevent', schema=None) as batch_op:
        batch_op.create_index('ix_consent_contact_created', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consentevent_workspace_id'), ['workspace_id'], unique=False)
    op.create_table('suppression',
    sa.Column('id', S(length=32), nullable=False),
    sa.Column('workspace_id', S(length=32), nullable=False),
    sa.Column('channel', S(length=8), nullable=False),
    sa.Column('address', S(length=320), nullable=False),
    sa.Column('reason', S(length=200), nullable=False),
    sa.Column('source', S(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'channel', 'address', name='uq_suppression_ws_addr')
    )
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppression_workspace_id'), ['workspace_id'], unique=False)
    op.create_table('messagingsettings',
    sa.Column('workspace_id', S(length=32), nullable=False),
    sa.Column('clicksend_secret_hash', S(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ),
    sa.PrimaryKeyConstraint('workspace_id'),
    sa.UniqueConstraint('clicksend_secret_hash')
    )


def downgrade() -> None:
    op.drop_table('messagingsettings')
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppression_workspace_id'))
    op.drop_table('suppression')
    with op.batch_alter_table('consentevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consentevent_workspace_id'))
        batch_op.drop_index('ix_consent_contact_created')
    op.drop_table('consentevent')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_workspace_id'))
    op.drop_table('contact')
    op.drop_table('auditstream')
    with op.batch_alter_table('auditlog', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_chain_seq', type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('chain')
    op.drop_table('auditchainhead')
