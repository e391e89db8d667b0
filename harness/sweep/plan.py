"""harness-plan: what a sweep would launch, and about how long it would take, before spending it.

    harness-plan sweep=demo                      # same arguments as harness-train -m
    harness-plan sweep=chinchilla_isoflop_gpu plan.format=jsonl

Expands the grid with Hydra's own sweeper machinery (harness/sweep/expand.py) and each job's step
count with ``resolve_budget``, so the plan and the runs agree on every number; nothing is trained
and no data is built (the vocabulary comes from ``data.vocab_size``).

Time estimate: a short throughput probe on this machine, a few optimizer steps of each distinct
(shape, batch) at the job's thread count, timed after warm-up steps, times the job's steps, plus
evaluation (forward passes over the validation set at each evaluation, at a third of a training
step's cost per token) and a fixed per-run setup overhead. Shapes whose probe would itself take long (far
beyond this device) are not probed: their time is extrapolated from the FLOP rate of the
largest probed shape and marked ``~``. The totals line also gives the time at a stated MFU on an
H100, which is how the *_gpu presets were sized.

Wasted runs are flagged before any compute is spent (column ``flags``, key ``flags`` in jsonl,
one summary line; ``flag_runs``):

* ``steps``    fewer than plan.min_steps (100) optimizer steps;
* ``batch``    a batch above what the budget allows: fewer than plan.min_steps steps, and a smaller
               batch (at most tokens / (min_steps * seq_len) sequences) would give them;
* ``warmup``   warmup above plan.max_warmup (a quarter) of the run;
* ``D/N``      tokens per parameter (total N) outside [plan.dn_min, plan.dn_max] = [1, 10000], or
               for an IsoFLOP design more than a factor plan.dn_slack (4) outside the design's
               range, each prior's D_opt/N_opt at the budget times span^-2 .. span^2;
* ``bracket``  an IsoFLOP budget (runs sharing train.flops) whose shapes do not reach a factor
               plan.bracket (1.5) below and above the N_opt(C) its prior predicts: that minimum cannot
               be bracketed. The prior is the design's (sweep.design.priors); a plain train.flops
               grid is judged under the default prior, Chinchilla's 20 tokens per parameter.

Options (``plan.<key>=<value>``, not passed to Hydra): format=table|jsonl, probe=true|false,
probe_steps=4, overhead_s=1.5 (per-run setup seconds), mfu=0.35 (for the H100 line),
max_probe_s=10 (skip probing a shape whose probe would take longer than this), gpus=0 and
pack_slowdown=2.0 (the packed estimate below), and the flag thresholds min_steps=100,
max_warmup=0.25, dn_min=1, dn_max=10000, dn_slack=4, bracket=1.5. tuning=<tuning sweep folder or
its tuning.json> (harness-tune) adds the flag ``untuned`` to rungs with no tuning behind them: a rate
more than x2 off the tuned one (or an estimated penalty above 0.01 nats), or N outside the tuned shapes.

Packed estimate: with GPUs (those visible, or plan.gpus=n to plan for another box) the totals also
give the wall time of the runs to train over n * sweep.runs_per_gpu slots, the longest-first
schedule of the per-run estimates (harness/sweep/packing.py), each run taking plan.pack_slowdown
times as long when it shares its GPU. That slowdown is an assumption, not a measurement, until
scripts/gpu_check.sh measures it on the GPU at hand.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Sequence

from harness.errors import SweepError
from harness.run.devices import visible_gpus
from harness.sweep.describe import PlannedRun, describe, with_branches
from harness.sweep.expand import expand
from harness.sweep.fit_settings import FitSettings
from harness.sweep.flags import flag_runs, flag_summary
from harness.sweep.plan_options import PlanOptions
from harness.sweep.probe import estimate, machine_name
from harness.sweep.render import header, render_table, to_json
from harness.tune.flags import flag_planned

__all__ = ["PlannedRun", "SweepError", "plan"]  # SweepError: what plan() raises on bad input


def plan(argv: Sequence[str], out: IO[str] | None = None) -> list[PlannedRun]:
    """Plan ``harness-train -m argv`` (plus ``plan.*`` options) and write the plan to ``out``."""
    out = out or sys.stdout
    opts, args = PlanOptions.parse(argv)
    master, jobs = expand(args)
    FitSettings.of(master)  # refused now, not after the sweep has trained
    runs = with_branches([describe(j) for j in jobs])
    checks = flag_runs(runs, master, opts)
    # Rungs with no tuning behind them (harness/tune/flags.py); counted in the summary's flags.
    tuning_lines = flag_planned(opts.tuning, runs) if opts.tuning else []
    summary = flag_summary(runs, checks, opts) + tuning_lines
    estimate(runs, opts, log=lambda m: print(m, file=sys.stderr))
    if opts.format == "jsonl":
        for r in runs:
            out.write(json.dumps(to_json(r), allow_nan=False) + "\n")
        print("\n".join(summary), file=sys.stderr)  # stdout stays one JSON object per run
        return runs
    out.write(header(master, len(runs)))
    out.write(render_table(runs, opts, *_where(runs, master, opts)) + "\n")
    out.write("\n".join(summary) + "\n")
    return runs


def _where(runs: list[PlannedRun], master: Any, opts: PlanOptions) -> tuple[str, tuple[int, int]]:
    """The device the estimates were timed on, and the GPUs and runs per GPU to pack them on.
    Naming the device and counting GPUs loads torch: done only where there are estimates to show."""
    spec = next((r.info["device"] for r in runs if r.info), "auto")
    runs_per_gpu = int(master.get("sweep", {}).get("runs_per_gpu", 1) or 1)
    if not any(r.seconds is not None for r in runs):
        return spec, (opts.gpus, runs_per_gpu)
    return machine_name(spec), (opts.gpus or visible_gpus(), runs_per_gpu)
