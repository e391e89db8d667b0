"""``harness-plan``: what a sweep would launch, and about how long it would take, before spending it.

    harness-plan sweep=demo                      # same arguments as harness-train -m
    harness-plan --next results/demo             # propose the next runs of a finished sweep

The planner itself is the library ``harness.sweep.plan`` (its docstring lists the options);
``harness-plan --next`` is ``harness.sweep.next_runs``.
"""

from __future__ import annotations

import sys

from harness.errors import SweepError
from harness.sweep import next_runs
from harness.sweep import plan as planner


def main() -> None:
    if sys.argv[1:2] == ["--next"]:
        sys.exit(next_runs.main(sys.argv[2:]))
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(planner.__doc__)
        return
    try:
        planner.plan(sys.argv[1:])
    except SweepError as e:
        print(f"harness-plan: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
