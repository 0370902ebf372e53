"""Passive decoders: one module per protocol, each a concrete `Decoder` (found by its base class,
as the engine finds probes, so adding a protocol is adding a module)."""

from __future__ import annotations

import importlib
import pkgutil

from camaudit.passive.decoders.base import Decoder


def decoder_classes() -> list[type[Decoder]]:
    """Every concrete decoder class of the package's modules, sorted by name.

    Only classes defined in this package count: a test's stand-in subclass never joins an import.
    A module that fails to import raises: a broken decoder is a packaging bug, not bad input.
    """
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    found: set[type[Decoder]] = set()
    todo = list(Decoder.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if (cls.__module__.startswith(f"{__name__}.") and getattr(cls, "name", None)
                and not getattr(cls, "__abstractmethods__", None)):
            found.add(cls)
    return sorted(found, key=lambda c: c.name)


def all_decoders() -> list[Decoder]:
    """Fresh instances of every decoder (decoders may hold state: one set per capture)."""
    return [cls() for cls in decoder_classes()]
