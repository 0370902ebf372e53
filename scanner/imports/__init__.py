"""Importers: other tools' output turned into camaudit observations."""
