"""Fingerprint data in code: one module per concern, imported by its own name.

vocabulary (vendor and brand names), fingerprint (one entry, its hits), schema (parse and
check a vendor file; errors name file:line), matcher (the trie that applies a set to
observations), loader (the shipped set, cached), verify (examples and shadowing).
"""
