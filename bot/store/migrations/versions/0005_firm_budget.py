"""firm budget: instances, exposure, reservations, audit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('firm_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('firm', sa.String(length=32), nullable=False),
    sa.Column('bot_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=True),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('numbers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firm_audit'))
    )
    op.create_table('firm_exposure',
    sa.Column('firm', sa.String(length=32), nullable=False),
    sa.Column('bot_id', sa.String(length=64), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('gross_usd', sa.Float(), nullable=False),
    sa.Column('net_usd', sa.Float(), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('firm', 'bot_id', 'asset', name=op.f('pk_firm_exposure'))
    )
    op.create_table('firm_instances',
    sa.Column('firm', sa.String(length=32), nullable=False),
    sa.Column('bot_id', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('limits_sha', sa.String(length=64), nullable=False),
    sa.Column('joined_ns', sa.BigInteger(), nullable=False),
    sa.Column('lease_until_ns', sa.BigInteger(), nullable=False),
    sa.Column('equity_usd', sa.Float(), nullable=False),
    sa.Column('day_start_equity_usd', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('firm', 'bot_id', name=op.f('pk_firm_instances'))
    )
    op.create_table('firm_reservations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('firm', sa.String(length=32), nullable=False),
    sa.Column('bot_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('gross_usd', sa.Float(), nullable=False),
    sa.Column('net_usd', sa.Float(), nullable=False),
    sa.Column('remaining_gross_usd', sa.Float(), nullable=False),
    sa.Column('remaining_net_usd', sa.Float(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_ns', sa.BigInteger(), nullable=False),
    sa.Column('closed_ns', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firm_reservations'))
    )
    with op.batch_alter_table('firm_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firm_reservations_created_ns'), ['created_ns'], unique=False)
        batch_op.create_index(batch_op.f('ix_firm_reservations_firm'), ['firm'], unique=False)
        batch_op.create_index(batch_op.f('ix_firm_reservations_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('firm_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_firm_reservations_status'))
        batch_op.drop_index(batch_op.f('ix_firm_reservations_firm'))
        batch_op.drop_index(batch_op.f('ix_firm_reservations_created_ns'))

    op.drop_table('firm_reservations')
    op.drop_table('firm_instances')
    op.drop_table('firm_exposure')
    op.drop_table('firm_audit')
