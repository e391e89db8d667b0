"""``harness-plan``: what a sweep would launch, and about how long it would take, before spending it.

    harness-plan sweep=demo                      # same arguments as harness-train -m
    harness-plan --next results/demo             # propose the next runs of a finished sweep

The planner itself is the library ``harness.sweep.plan`` (its docstring lists the options);
``harness-plan --next`` is ``harness.sweep.next_runs`` (its docstring gives the method).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Sequence

from harness.errors import NextRunsError, SweepError
from harness.sweep import next_runs
from harness.sweep import plan as planner
from harness.sweep.next_report import render, to_json
from harness.sweep.runs_so_far import load_design

# With only --cpu-hours, at most this many runs: each round of the greedy search refits the bootstrap.
MAX_K_BY_HOURS = 12
USAGE = ("usage: harness-plan --next SWEEP_DIR [--k N] [--budget FLOPS] [--cpu-hours H] [--target a|loss@C] "
         "[--law chinchilla|approach2] [--seed N] [--json]")
VALUED = ("--k", "--budget", "--cpu-hours", "--target", "--law", "--seed")  # options that take a value


@dataclass(frozen=True)
class NextArgs:
    """``harness-plan --next``'s arguments, typed and checked."""

    sweep_dir: str
    k: int = 4  # 12 when only --cpu-hours bounds the proposal
    budget: float | None = None  # the most FLOPs (6ND) the proposed runs may spend in all
    cpu_hours: float | None = None  # the most CPU-hours they may spend, estimated from the sweep's records
    target: str = "a"
    law: str | None = None
    seed: int = 0
    json: bool = False

    def __post_init__(self) -> None:
        if self.budget is not None and not (math.isfinite(self.budget) and self.budget > 0):
            raise NextRunsError(f"--budget {self.budget:g}: must be a positive number of FLOPs")
        if self.cpu_hours is not None and not (math.isfinite(self.cpu_hours) and self.cpu_hours > 0):
            raise NextRunsError(f"--cpu-hours {self.cpu_hours:g}: must be a positive number of hours")

    @classmethod
    def parse(cls, argv: Sequence[str]) -> NextArgs:
        """From ``--key value`` or ``--key=value`` options and one sweep folder; NextRunsError on bad input."""
        given: dict[str, str] = {}
        pos: list[str] = []
        args = list(argv)
        while args:
            a = args.pop(0)
            key, eq, val = a.partition("=")
            if key in VALUED:
                if not eq and not args:
                    raise NextRunsError(f"{key} needs a value; {USAGE}")
                given[key[2:]] = val if eq else args.pop(0)
            elif a == "--json":
                given["json"] = "1"
            elif a.startswith("--"):
                raise NextRunsError(f"unknown option {a}; {USAGE}")
            else:
                pos.append(a)
        if len(pos) != 1:
            raise NextRunsError(f"--next takes one sweep folder; {USAGE}")
        try:
            hours = float(given.pop("cpu-hours")) if "cpu-hours" in given else None
            numbers = {"k": int(given.pop("k", "4" if hours is None else str(MAX_K_BY_HOURS))),
                       "budget": float(given.pop("budget")) if "budget" in given else None,
                       "cpu_hours": hours, "seed": int(given.pop("seed", "0"))}
        except ValueError as e:
            raise NextRunsError(f"--k, --budget, --cpu-hours and --seed take numbers ({e})") from None
        return cls(pos[0], json="json" in given, target=given.get("target", "a"), law=given.get("law"), **numbers)


def next_main(argv: Sequence[str]) -> int:
    """``harness-plan --next ...``: returns the exit status (errors print one line)."""
    if any(a in ("-h", "--help") for a in argv):
        print(next_runs.__doc__)
        return 0
    try:
        args = NextArgs.parse(argv)
        design = load_design(args.sweep_dir)
        prop = next_runs.propose(design, k=args.k, target=args.target, law=args.law, budget=args.budget,
                                 cpu_hours=args.cpu_hours, seed=args.seed)
    except NextRunsError as e:
        print(f"harness-plan: {e}", file=sys.stderr)
        return 2
    print(json.dumps(to_json(design, prop), indent=1) if args.json else render(design, prop))
    return 0


def main() -> None:
    if sys.argv[1:2] == ["--next"]:
        sys.exit(next_main(sys.argv[2:]))
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(planner.__doc__)
        return
    try:
        runs = planner.plan(sys.argv[1:])
    except SweepError as e:
        print(f"harness-plan: {e}", file=sys.stderr)
        sys.exit(2)
    bad = [r for r in runs if r.error]
    if bad:  # the plan is printed, but `harness-plan ... && harness-train -m ...` must stop here
        print(f"harness-plan: {len(bad)} of {len(runs)} run(s) cannot run: {bad[0].error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
