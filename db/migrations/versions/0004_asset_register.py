"""asset register: the agency's own list of devices with location and owner

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'asset_register',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('mac', sa.String(length=17), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('asset_tag', sa.String(length=200), nullable=True),
        sa.Column('location', sa.String(length=200), nullable=True),
        sa.Column('owner', sa.String(length=200), nullable=True),
        sa.Column('vendor', sa.String(length=200), nullable=True),
        sa.Column('extra', sa.JSON(), nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('source_file', sa.String(length=400), nullable=False),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('mac'),
        sa.UniqueConstraint('ip'),
    )


def downgrade() -> None:
    op.drop_table('asset_register')
