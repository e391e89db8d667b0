"""Counts, ratios and durations as the sweep's tables, progress lines and proposals write them."""

from __future__ import annotations


def si(x: float) -> str:
    """1234567 -> 1.23M (K, M, G prefixes)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def duration(s: float | None) -> str:
    """Seconds in the unit that keeps the number short ('-' for no estimate)."""
    if s is None:
        return "-"
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def ratio(x: float) -> str:
    """A tokens-per-parameter ratio as a person writes it: 1785, 23, 0.27."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"
