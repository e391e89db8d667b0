"""One value read from an input file, checked as strictly as every loader checks it."""

from __future__ import annotations

import math

from harness.errors import FitInputError


def positive(value: object, what: str, where: str) -> float:
    """``value`` as a finite positive float, or a one-line FitInputError naming ``what`` and ``where``."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise FitInputError(f"{where}: {what} is missing")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FitInputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise FitInputError(f"{where}: {what} is {value!r}, not a finite number")
    if x <= 0:
        raise FitInputError(f"{where}: {what} is {value!r}; it must be positive")
    return x
