"""What the store raises: each error carries the facts (URL, field, limit, revision) as
attributes, so the command line can word what to do and other callers can act on them."""

from __future__ import annotations

from camaudit.redact import mask_secrets


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says what."""


class StoreUnavailable(StoreError):
    """The database itself cannot be opened or migrated (not a mistake in the request).

    `path`: the inventory file that could not be created, when that is what failed.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class BadDatabaseUrl(StoreError):
    """A database URL SQLAlchemy cannot parse."""

    def __init__(self, url: str) -> None:
        self.url = mask_secrets(url)        # shown and logged: the password masked
        super().__init__(f"not a database URL: {mask_secrets(repr(url))}")


class UnsupportedDatabase(StoreError):
    """A database kind the store does not ship for (it runs on SQLite and PostgreSQL)."""

    def __init__(self, backend: str) -> None:
        super().__init__(f"unsupported database {backend!r}")
        self.backend = backend


class InMemoryDatabase(StoreError):
    """An in-memory SQLite URL: the inventory would vanish when the process exits."""

    def __init__(self, url: str) -> None:
        self.url = mask_secrets(url)
        super().__init__(f"an in-memory SQLite inventory ({self.url}) would vanish at exit")


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


class NoSuchScan(StoreError):
    """A scan id that names no stored scan (in the inventory at `url`)."""

    def __init__(self, scan_id: int, url: str) -> None:
        super().__init__(f"no scan {scan_id} in {url}")
        self.scan_id, self.url = scan_id, url


class ScanFinished(StoreError):
    """A write to a scan that already ended (`status`: how it ended)."""

    def __init__(self, scan_id: int, status: str) -> None:
        super().__init__(f"scan {scan_id} already finished ({status})")
        self.scan_id, self.status = scan_id, status


class NoSuchAsset(StoreError):
    """A reference (asset id, MAC or IP, maybe within a site) that names no stored asset."""

    def __init__(self, ref: str, site: str | None) -> None:
        where = f" at site {site}" if site is not None else ""
        super().__init__(f"no asset matches {ref}{where}")
        self.ref, self.site = ref, site


class AmbiguousAsset(StoreError):
    """A reference (MAC or IP) that names several assets where one is needed; `sites`: the
    sites they belong to when they differ, else empty (several assets of one site)."""

    def __init__(self, ref: str, count: int, sites: list[str]) -> None:
        where = f" at several sites ({', '.join(sites)})" if sites else ""
        super().__init__(f"{ref} names {count} assets{where}")
        self.ref, self.count, self.sites = ref, count, sites


class NotEnoughScans(StoreError):
    """A diff without scan ids, when fewer than two complete scans (of `site`) are stored."""

    def __init__(self, found: int, site: str | None) -> None:
        where = f" of site {site}" if site is not None else ""
        super().__init__(f"diff needs two complete scans{where}; {found} stored")
        self.found, self.site = found, site
