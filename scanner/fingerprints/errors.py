"""The error every fingerprint data reader raises, in a module of its own so that the
vocabulary and the schema, which both raise it, need not import each other."""

from __future__ import annotations


class FingerprintError(ValueError):
    """A fingerprint file is wrong; the message names file, line and entry."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file, self.line = file, line
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")
