"""wallet transfers and margin top-ups

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# money: exact NUMERIC on PostgreSQL, canonical decimal text on SQLite (see bot.store.models.ExactDecimal)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('transfers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=32), nullable=False),
    sa.Column('transfer_id', sa.String(length=64), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('from_wallet', sa.String(length=16), nullable=False),
    sa.Column('to_wallet', sa.String(length=16), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_transfers_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
    sa.UniqueConstraint('run_id', 'venue', 'transfer_id', name=op.f('uq_transfers_run_id_venue_transfer_id'))
    )


def downgrade() -> None:
    op.drop_table('transfers')
