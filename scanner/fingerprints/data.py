"""The one place that names the shipped data package (vendors/, policies/, oui/, vocabulary.toml).

Every reader of shipped data asks `data_root()`, so renaming or relocating the installed data
package changes this module only. importlib.resources reads it from wherever the wheel put it.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

DATA_PACKAGE = "camaudit.fingerprint_data"


def data_root() -> Traversable:
    """The root folder of the shipped data, as installed."""
    return files(DATA_PACKAGE)
