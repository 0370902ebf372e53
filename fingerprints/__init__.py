"""Data package: vendor fingerprints, jurisdiction policies and OUI tables (no code).

Shipped inside the wheel so that a scanner on an air-gapped network carries its own data;
`scanner.fingerprints` loads and validates these files.
"""

from importlib.resources import files

DATA = files(__name__)
