"""One value read from an input file, checked as strictly as every loader checks it."""

from __future__ import annotations

import math

from harness.errors import FitInputError


def show(value: object) -> str:
    """``value`` as an error message quotes it: its repr, cut short past 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def positive(value: object, what: str, where: str) -> float:
    """``value`` as a finite positive float, or a one-line FitInputError naming ``what`` and ``where``.

    A boolean is not a number here (Python would read true as 1), and an integer too large for a
    float (JSON has no limit) is refused rather than overflowing.
    """
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise FitInputError(f"{where}: {what} is missing")
    if isinstance(value, bool):
        raise FitInputError(f"{where}: {what} is {value!r}, not a number")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FitInputError(f"{where}: {what} {show(value)} is not a number") from None
    except OverflowError:
        raise FitInputError(f"{where}: {what} {show(value)} is too large for a number") from None
    if not math.isfinite(x):
        raise FitInputError(f"{where}: {what} is {show(value)}, not a finite number")
    if x <= 0:
        raise FitInputError(f"{where}: {what} is {show(value)}; it must be positive")
    return x
