"""The planner's own options: ``plan.<key>=<value>`` arguments, which Hydra never sees.

harness/sweep/plan.py's docstring says what each one does; this module holds their types and
defaults, reads them off the command line and refuses a bad one in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

from harness.errors import SweepError

PREFIX = "plan."
FORMATS = ("table", "jsonl")


@dataclass(frozen=True)
class PlanOptions:
    format: str = "table"  # table | jsonl
    probe: bool = True  # time a few steps of each (shape, batch) on this machine
    probe_steps: int = 4
    overhead_s: float = 1.5  # setup seconds of a run, beyond its steps and evaluations
    mfu: float = 0.35  # for the H100 line
    max_probe_s: float = 10.0  # a shape whose probe would take longer is extrapolated instead
    # Flag thresholds (harness/sweep/flags.py).
    min_steps: int = 100
    max_warmup: float = 0.25
    dn_min: float = 1.0
    dn_max: float = 10000.0
    dn_slack: float = 4.0
    bracket: float = 1.5
    # The packed estimate: GPUs to plan for (0: those visible) and the assumed slowdown of a run
    # sharing its GPU (harness/sweep/packing.py).
    gpus: int = 0
    pack_slowdown: float = 2.0
    # A tuning result (harness-tune): flag rungs with no tuning behind them.
    tuning: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise SweepError(f"{PREFIX}format={self.format}: plan.format is table or jsonl")
        if self.pack_slowdown < 1:
            raise SweepError(f"{PREFIX}pack_slowdown={self.pack_slowdown:g}: a run sharing a GPU is not faster "
                             "than alone (>= 1)")

    @classmethod
    def parse(cls, argv: Sequence[str]) -> tuple[PlanOptions, list[str]]:
        """The options among ``argv`` (a later one replacing an earlier one), and the other arguments."""
        defaults = cls()
        names = [f.name for f in fields(cls)]
        given: dict[str, object] = {}
        rest: list[str] = []
        for arg in argv:
            if not arg.startswith(PREFIX):
                rest.append(arg)
                continue
            key, sep, text = arg[len(PREFIX):].partition("=")
            if key not in names or not sep:
                raise SweepError(f"{arg}: unknown planner option; choose from "
                                 + ", ".join(PREFIX + n for n in names))
            given[key] = _typed(arg, text, type(getattr(defaults, key)))
        return cls(**given), rest


def _typed(arg: str, text: str, kind: type) -> object:
    """``text`` as a value of ``kind`` (bool: true or false, any case)."""
    try:
        if kind is not bool:
            return kind(text)
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
    except ValueError:
        pass
    raise SweepError(f"{arg}: expected a {kind.__name__}")
