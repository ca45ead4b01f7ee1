"""fills: the base a venue kept as the fee (a spot buy's fee in the coin bought)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# money: exact NUMERIC on PostgreSQL, canonical decimal text on SQLite (see bot.store.models.ExactDecimal)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), "sqlite")

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fills') as batch:
        batch.add_column(sa.Column('fee_qty', MONEY, nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('fills') as batch:
        batch.drop_column('fee_qty')
