"""Data package: vendor fingerprints, jurisdiction policies and OUI tables (no code).

Shipped inside the wheel so that a scanner on an air-gapped network carries its own data;
`camaudit.fingerprints.data.data_root()` is the one place that locates it, and
`camaudit.fingerprints` loads and validates these files.
"""
