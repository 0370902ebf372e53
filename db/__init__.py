"""Inventory storage: SQLAlchemy 2 models, the store, the remediation state machine, migrations."""
