"""What the store raises: each error carries the facts (URL, field, limit, revision) as
attributes, so the command line can word what to do and other callers can act on them."""

from __future__ import annotations

from scanner.redact import mask_secrets


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says what."""


class StoreUnavailable(StoreError):
    """The database itself cannot be opened or migrated (not a mistake in the request)."""


class _DatabaseRefused(StoreUnavailable):
    """A database camaudit will not use; `url` is kept with its password masked, since the
    message is shown and logged."""

    def __init__(self, url: str, message: str) -> None:
        self.url = mask_secrets(url)
        super().__init__(f"{self.url} {message}")


class CorruptDatabase(_DatabaseRefused):
    """The file is not a readable SQLite database (random bytes, a damaged page)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(url, f"is not a readable SQLite database ({detail})")
        self.detail = detail


class ForeignDatabase(_DatabaseRefused):
    """The database holds another application's tables: camaudit never writes into it."""

    def __init__(self, url: str, tables: list[str]) -> None:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        super().__init__(url, f"holds tables of another application ({shown})")
        self.tables = tables


class NewerSchema(_DatabaseRefused):
    """The schema is at a revision this camaudit does not know (a newer release wrote it)."""

    def __init__(self, url: str, revision: str, head: str | None) -> None:
        super().__init__(url, f"has inventory schema revision {revision!r}, unknown to this "
                         f"camaudit (its newest is {head!r})")
        self.revision, self.head = revision, head


class NoSuchFinding(StoreError):
    """A finding id that names no stored finding."""

    def __init__(self, finding_id: int | str) -> None:
        super().__init__(f"no finding {finding_id}")
        self.finding_id = finding_id


class TextTooLong(StoreError):
    """A value typed by the user is longer than its column allows (device text is cut)."""

    def __init__(self, field: str, limit: int, length: int) -> None:
        super().__init__(f"{field} is {length} characters long; the inventory keeps at most {limit}")
        self.field, self.limit, self.length = field, limit, length
