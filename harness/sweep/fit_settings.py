"""The end-of-sweep fit's settings (``sweep.fit_*``), read once and checked before anything trains.

The planner refuses bad ones before a sweep; the callback refuses them when the multirun starts
and fits with them when it ends. Checked up front because the fit runs after hours of training:
a law name that is no law, or an unusable weight for under-tuned runs, would only be skipped then.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from harness.config import SweepConfig
from harness.errors import FitInputError, SweepError
from harness.fit.law import check_law_names
from harness.tune.fitlink import check_weight

_SCHEMA = SweepConfig()  # the defaults of a sweep node that leaves a setting out
KEY_PREFIX = "fit_"  # FitSettings.bootstrap is sweep.fit_bootstrap, and so on


@dataclass(frozen=True)
class FitSettings:
    laws: tuple[str, ...] = tuple(_SCHEMA.fit_laws)  # empty: the fitter picks what the data supports
    bootstrap: int = _SCHEMA.fit_bootstrap
    holdout: int = _SCHEMA.fit_holdout
    param_convention: str = _SCHEMA.fit_param_convention
    flops_convention: str = _SCHEMA.fit_flops_convention
    tuning: str | None = _SCHEMA.fit_tuning
    undertuned_weight: float | None = _SCHEMA.fit_undertuned_weight

    def __post_init__(self) -> None:
        try:
            if self.laws:  # the law registry imports every law: only when there is a name to check
                check_law_names(self.laws, "sweep.fit_laws")
            check_weight(self.undertuned_weight, self.tuning, "sweep.fit_undertuned_weight")
        except FitInputError as e:
            raise SweepError(str(e)) from None

    @classmethod
    def from_sweep(cls, sweep: Any) -> FitSettings:
        """From a sweep node (``sweep`` of a composed config); a setting it lacks keeps its default."""
        given = {f.name: sweep.get(KEY_PREFIX + f.name) for f in fields(cls)}
        for name in ("param_convention", "flops_convention"):
            given[name] = SweepConfig.read_renamed(sweep, KEY_PREFIX + name)
        given["laws"] = tuple(str(name) for name in given["laws"] or ())
        return cls(**{k: v for k, v in given.items() if v is not None})

    @classmethod
    def of(cls, config: Any) -> FitSettings | None:
        """The settings of a whole config (the planner's master, the callback's); None without a sweep node."""
        sweep = config.get("sweep") if config is not None else None
        return None if sweep is None else cls.from_sweep(sweep)

