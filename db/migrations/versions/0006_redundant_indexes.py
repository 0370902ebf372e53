"""Drop the indexes no query can use better than another index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Every row a scan writes updates every index of its table. Three of them serve no lookup:
`ix_sightings_scan_id` and `ix_findings_asset_id` repeat the first column of the unique
constraints on (scan_id, asset_id) and (asset_id, policy_id), whose indexes serve every
lookup by that column (both SQLite and PostgreSQL read a leading column of a multi-column
index); `ix_assets_vendor` indexes `vendor`, while every query asks for `lower(vendor)`,
which a plain index cannot serve. A 10,000-device scan wrote 42,500 entries into them.
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

INDEXES = (('ix_sightings_scan_id', 'sightings', 'scan_id'),
           ('ix_findings_asset_id', 'findings', 'asset_id'),
           ('ix_assets_vendor', 'assets', 'vendor'))


def upgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)
