"""Alembic environment, configured in code by camaudit.db.migrate (there is no alembic.ini).

The caller hands over an open connection inside its own transaction, so a migration either
applies completely or not at all (transactional DDL on PostgreSQL and, with the store's
explicit BEGIN, on SQLite too): a killed process never leaves the schema half-migrated.
"""

from alembic import context

from camaudit.db.models import Base, UTCDateTime


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Migrations must not import the models they freeze: UTCDateTime is a DateTime column."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,        # SQLite cannot ALTER most things; batch mode copies the table
    transactional_ddl=True,
    compare_type=True,
    render_item=_render_item,
)
with context.begin_transaction():
    context.run_migrations()
