"""confidence tiers on assets and sightings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Rows stored before tiers existed had every flagged device count for the scan's exit code 1;
they become `probable` (when a vendor was concluded), which keeps that behaviour until the
next scan or `camaudit rematch` grades them from their evidence.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_assets_tier'), ['tier'], unique=False)
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=20), nullable=True))
    for table in ('assets', 'sightings'):
        op.execute(f"UPDATE {table} SET tier = 'probable' WHERE vendor IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.drop_column('tier')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_tier'))
        batch_op.drop_column('tier')
