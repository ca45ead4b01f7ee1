"""operator command nonces, kept across restarts

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('command_nonces',
    sa.Column('bot_id', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('seen_ns', sa.BigInteger(), nullable=False),
    sa.Column('expires_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('bot_id', 'nonce', name=op.f('pk_command_nonces'))
    )


def downgrade() -> None:
    op.drop_table('command_nonces')
