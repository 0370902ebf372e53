"""IPv6 addresses of assets and sightings in their own column

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

A dual-stack device is one asset with its IPv4 address in `ip` and its IPv6 addresses in the
JSON list `ipv6`. Rows stored before kept an IPv6-only device's address in `ip`; it moves to
`ipv6` (an IPv4-mapped one, `::ffff:a.b.c.d`, stays in `ip` as the IPv4 address it is). The
asset's identity (`ip:<site>:<address>`) is unchanged, so the next scan finds it.
"""
import ipaddress

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ('assets', 'sightings')


def upgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('ipv6', sa.JSON(), nullable=True))
    conn = op.get_bind()
    for name in TABLES:
        table = sa.table(name, sa.column('id', sa.Integer()), sa.column('ip', sa.String(45)),
                         sa.column('ipv6', sa.JSON(none_as_null=True)))
        moves = []
        for row in conn.execute(sa.select(table.c.id, table.c.ip).where(table.c.ip.like('%:%'))):
            try:
                address = ipaddress.IPv6Address(row.ip)
            except ValueError:
                continue      # not an address: left as it was stored
            mapped = address.ipv4_mapped
            moves.append({'b_id': row.id, 'ip': str(mapped) if mapped else None,
                          'ipv6': None if mapped else [str(address)]})
        if moves:
            conn.execute(sa.update(table).where(table.c.id == sa.bindparam('b_id')), moves)


def downgrade() -> None:
    conn = op.get_bind()
    for name in TABLES:
        table = sa.table(name, sa.column('id', sa.Integer()), sa.column('ip', sa.String(45)),
                         sa.column('ipv6', sa.JSON(none_as_null=True)))
        rows = conn.execute(sa.select(table.c.id, table.c.ipv6)
                            .where(table.c.ip.is_(None), table.c.ipv6.is_not(None))).all()
        back = [{'b_id': r.id, 'ip': r.ipv6[0]} for r in rows if r.ipv6 and len(r.ipv6[0]) <= 45]
        if back:
            conn.execute(sa.update(table).where(table.c.id == sa.bindparam('b_id')), back)
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column('ipv6')
