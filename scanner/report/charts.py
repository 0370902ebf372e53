"""Chart geometry for the HTML report, computed here so the page needs no chart library.

Functions return plain numbers and labels; the template draws them as inline SVG (with
Jinja2 autoescape on, so a vendor or site name cannot inject markup). Keeping geometry out
of the template keeps it testable and the template declarative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BAR_HEIGHT = 22
BAR_LABEL_WIDTH = 150
BAR_AREA_WIDTH = 260
LABEL_CHARS = 22
MAX_BARS = 12  # beyond this a chart stops being readable: the rest is one "others" bar


@dataclass(frozen=True)
class Bar:
    label: str        # shortened for display
    full_label: str   # shown as the SVG <title> tooltip
    value: int
    y: int
    width: int


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int = BAR_LABEL_WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(title: str, counts: Mapping[str, int], keep_order: bool = False) -> BarChart:
    """Horizontal bars scaled to the largest value: largest first, or in the given order
    when the order means something (remediation statuses follow the state machine)."""
    ordered = list(counts.items()) if keep_order else sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) > MAX_BARS:
        rest = ordered[MAX_BARS - 1:]
        ordered = ordered[: MAX_BARS - 1] + [(f"{len(rest)} others", sum(v for _, v in rest))]
    peak = max((value for _, value in ordered), default=0) or 1
    bars = tuple(
        Bar(label=_shorten(label), full_label=label, value=value, y=i * BAR_HEIGHT,
            width=max(1, round(BAR_AREA_WIDTH * value / peak)) if value else 0)
        for i, (label, value) in enumerate(ordered)
    )
    return BarChart(title=title, bars=bars, width=BAR_LABEL_WIDTH + BAR_AREA_WIDTH + 50,
                    height=max(len(bars), 1) * BAR_HEIGHT)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int
    label: str


@dataclass(frozen=True)
class Line:
    name: str
    css_class: str
    points: tuple[Point, ...]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class BurnDown:
    lines: tuple[Line, ...]
    width: int
    height: int
    left: int
    bottom: int
    peak: int
    x_labels: tuple[Point, ...]


def burn_down(series: Sequence[Mapping[str, Any]], width: int = 640, height: int = 220) -> BurnDown | None:
    """Unresolved (open + in progress) and remediated findings after each scan, oldest first.

    None when there are no scans to draw, so the page says so instead of an empty frame.
    """
    if not series:
        return None
    axis, right, top, bottom = 40, 16, 12, height - 28
    left = axis
    unresolved = [int(s.get("open") or 0) + int(s.get("in_progress") or 0) for s in series]
    remediated = [int(s.get("remediated") or 0) for s in series]
    peak = max(unresolved + remediated) or 1
    step = (width - axis - right) / max(len(series) - 1, 1)
    if len(series) == 1:
        left += (width - axis - right) // 2  # one scan: its point in the middle, not on the axis
    labels = [f"scan {s.get('scan_id')} ({str(s.get('started_at') or '')[:10]})" for s in series]

    def points(values: Iterable[int]) -> tuple[Point, ...]:
        return tuple(Point(x=left + i * step, y=bottom - (bottom - top) * v / peak, value=v, label=labels[i])
                     for i, v in enumerate(values))

    x_labels = tuple(Point(x=left + i * step, y=height - 8, value=0, label=str(s.get("scan_id")))
                     for i, s in enumerate(series))
    return BurnDown(lines=(Line("unresolved", "line-open", points(unresolved)),
                           Line("remediated", "line-done", points(remediated))),
                    width=width, height=height, left=axis, bottom=bottom, peak=peak, x_labels=x_labels)


def _shorten(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "\u2026"
