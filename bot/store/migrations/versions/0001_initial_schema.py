"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# money: exact NUMERIC on PostgreSQL, canonical decimal text on SQLite (see bot.store.models.ExactDecimal)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_key', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_ns', sa.BigInteger(), nullable=False),
    sa.Column('updated_ns', sa.BigInteger(), nullable=False),
    sa.Column('cursor_ns', sa.BigInteger(), nullable=True),
    sa.Column('restarts', sa.Integer(), nullable=False),
    sa.Column('data_version', sa.String(length=64), nullable=False),
    sa.Column('code_version', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    sa.UniqueConstraint('run_key', name=op.f('uq_runs_run_key'))
    )
    op.create_table('borrow_charges',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=32), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('qty', MONEY, nullable=False),
    sa.Column('rate_apr', sa.Float(), nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_borrow_charges_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_borrow_charges')),
    sa.UniqueConstraint('run_id', 'venue', 'instrument_id', 'ts_ns', name=op.f('uq_borrow_charges_run_id_venue_instrument_id_ts_ns'))
    )
    op.create_table('decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('intent_id', sa.String(length=64), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('scale', sa.Float(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('risk_reducing', sa.Boolean(), nullable=False),
    sa.Column('rules', sa.String(length=128), nullable=False),
    sa.Column('hits', sa.JSON(), nullable=False),
    sa.Column('unavailable', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_decisions_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions')),
    sa.UniqueConstraint('run_id', 'decision_id', name=op.f('uq_decisions_run_id_decision_id'))
    )
    op.create_table('equity_snapshots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('equity', MONEY, nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_equity_snapshots_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equity_snapshots')),
    sa.UniqueConstraint('run_id', 'ts_ns', name=op.f('uq_equity_snapshots_run_id_ts_ns'))
    )
    op.create_table('fills',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=32), nullable=False),
    sa.Column('trade_id', sa.String(length=64), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('qty', MONEY, nullable=False),
    sa.Column('price', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('liquidity', sa.String(length=8), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('is_liquidation', sa.Boolean(), nullable=False),
    sa.Column('is_settlement', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_fills_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fills')),
    sa.UniqueConstraint('run_id', 'venue', 'trade_id', name=op.f('uq_fills_run_id_venue_trade_id'))
    )
    op.create_table('funding_payments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=32), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('rate', MONEY, nullable=False),
    sa.Column('position_qty', MONEY, nullable=False),
    sa.Column('mark', MONEY, nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_funding_payments_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_payments')),
    sa.UniqueConstraint('run_id', 'venue', 'instrument_id', 'ts_ns', name=op.f('uq_funding_payments_run_id_venue_instrument_id_ts_ns'))
    )
    op.create_table('governor_state',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_governor_state_run_id_runs')),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_governor_state'))
    )
    op.create_table('ladder_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('measure', sa.String(length=32), nullable=False),
    sa.Column('from_stage', sa.Integer(), nullable=False),
    sa.Column('to_stage', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_ladder_events_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ladder_events'))
    )
    op.create_table('orders',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('intent_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('venue', sa.String(length=32), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('qty', MONEY, nullable=False),
    sa.Column('order_type', sa.String(length=8), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('limit_price', MONEY, nullable=True),
    sa.Column('post_only', sa.Boolean(), nullable=False),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('leverage', sa.Integer(), nullable=True),
    sa.Column('ref_mid', MONEY, nullable=False),
    sa.Column('ref_touch', MONEY, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('filled_qty', MONEY, nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('ts_created_ns', sa.BigInteger(), nullable=False),
    sa.Column('ts_updated_ns', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_orders_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_orders_client_order_id'))
    )
    op.create_table('pairs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.String(length=64), nullable=False),
    sa.Column('lead_order_id', sa.String(length=64), nullable=False),
    sa.Column('hedge_instrument_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('lead_filled', MONEY, nullable=False),
    sa.Column('hedge_filled', MONEY, nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_pairs_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairs')),
    sa.UniqueConstraint('run_id', 'decision_id', name=op.f('uq_pairs_run_id_decision_id'))
    )
    op.create_table('positions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.String(length=64), nullable=False),
    sa.Column('qty', MONEY, nullable=False),
    sa.Column('avg_cost', MONEY, nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_positions_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_positions')),
    sa.UniqueConstraint('run_id', 'instrument_id', name=op.f('uq_positions_run_id_instrument_id'))
    )
    op.create_table('state_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('ts_ns', sa.BigInteger(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_state_transitions_run_id_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_state_transitions'))
    )


def downgrade() -> None:
    op.drop_table('state_transitions')
    op.drop_table('positions')
    op.drop_table('pairs')
    op.drop_table('orders')
    op.drop_table('ladder_events')
    op.drop_table('governor_state')
    op.drop_table('funding_payments')
    op.drop_table('fills')
    op.drop_table('equity_snapshots')
    op.drop_table('decisions')
    op.drop_table('borrow_charges')
    op.drop_table('runs')
