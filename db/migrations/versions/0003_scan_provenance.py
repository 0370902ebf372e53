"""scan provenance: the observation file a scan was ingested from

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_file', sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column('source_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('source_tool', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('observed_from', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('observed_to', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_scans_source_sha256'), ['source_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scans_source_sha256'))
        for name in ('observed_to', 'observed_from', 'source_tool', 'source_sha256', 'source_file'):
            batch_op.drop_column(name)
