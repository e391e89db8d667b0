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
from dataclasses import dataclass, field
from typing import Any, Sequence

from harness import records
from harness.budget import resolve_budget
from harness.config import OptimConfig, ScheduleConfig, TrainConfig, validate
from harness.errors import ConfigError, DesignError, SweepError
from harness.flops import CONVENTIONS, Shape, flops_per_token, param_counts
from harness.run.branches import plan_forks
from harness.run.devices import visible_gpus
from harness.shapes.design import bracketed, chinchilla_prior, priors_of
from harness.sweep.expand import Job, check_fit_settings, expand
from harness.sweep.packing import packed_wall_seconds
from harness.tune.flags import flag_planned

H100_NAME = "NVIDIA H100 80GB HBM3"
PLAN_DEFAULTS: dict[str, Any] = {"format": "table", "probe": True, "probe_steps": 4, "overhead_s": 1.5,
                                 "mfu": 0.35, "max_probe_s": 10.0, "min_steps": 100, "max_warmup": 0.25,
                                 "dn_min": 1.0, "dn_max": 10000.0, "dn_slack": 4.0, "bracket": 1.5,
                                 # The packed estimate: GPUs to plan for (0: those visible) and the
                                 # assumed slowdown of a run sharing its GPU (harness/sweep/packing.py).
                                 "gpus": 0, "pack_slowdown": 2.0,
                                 # A tuning result (harness-tune): flag rungs with no tuning behind them.
                                 "tuning": ""}


@dataclass
class PlannedRun:
    job: Job
    run_id: str | None = None
    status: str = "new"  # new | completed | diverged | failed (what a record already says)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float | None = None
    extrapolated: bool = False
    flags: list[str] = field(default_factory=list)  # why the run is (probably) wasted; see flag_runs
    branches: list["PlannedRun"] = field(default_factory=list)  # its cooldown branches (harness/run/branches.py)


def parse_args(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    opts = dict(PLAN_DEFAULTS)
    rest = []
    for a in argv:
        if a.startswith("plan."):
            key, sep, val = a[5:].partition("=")
            if key not in PLAN_DEFAULTS or not sep:
                raise SweepError(f"{a}: unknown planner option; choose from "
                                 + ", ".join(f"plan.{k}" for k in PLAN_DEFAULTS))
            default = PLAN_DEFAULTS[key]
            try:
                if isinstance(default, bool):
                    if val.lower() not in ("true", "false"):
                        raise ValueError
                    opts[key] = val.lower() == "true"
                else:
                    opts[key] = type(default)(val)
            except ValueError:
                raise SweepError(f"{a}: expected a {type(default).__name__}") from None
            if key == "format" and val not in ("table", "jsonl"):
                raise SweepError(f"{a}: plan.format is table or jsonl")
        else:
            rest.append(a)
    return opts, rest


def describe(job: Job) -> PlannedRun:
    """Shape, params, steps, tokens and FLOPs of one job, from the same code the run uses."""
    from harness.run.step import shape_of

    pr = PlannedRun(job)
    cfg = job.cfg
    if cfg is None:
        pr.error = job.error
        return pr
    pr.run_id = records.run_id_of(cfg)
    try:
        # A plan only looks: an unreadable record counts as not done but stays where it is.
        rec = records.find_record(cfg.out_dir, cfg.sweep_name, pr.run_id, quarantine_corrupt=False)
    except (records.RecordError, OSError):
        rec = None
    if rec is not None:
        pr.status = rec.status
    try:
        validate(cfg)
        shape = shape_of(cfg.model, cfg.data.vocab_size, cfg.data.seq_len)
        budget = resolve_budget(cfg, shape)
    except (ConfigError, ValueError) as e:
        pr.error = f"invalid config: {e}"
        return pr
    counts = param_counts(shape)
    per_token = flops_per_token(shape)
    try:
        forks = plan_forks(cfg, shape)
    except ConfigError as e:
        pr.error = f"invalid config: {e}"
        return pr
    pr.info = {
        "model": {"name": cfg.model.name, **vars(shape)},
        "params": vars(counts).copy(),
        "batch_size": cfg.train.batch_size, "seq_len": cfg.data.seq_len, "steps": budget.steps,
        "tokens": budget.tokens, "warmup_steps": budget.warmup_steps, "budget": budget.requested,
        "tokens_per_param": budget.tokens / counts.total,
        "flops": {k: per_token[k] * budget.tokens for k in CONVENTIONS},
        "lr": cfg.optim.lr, "threads": cfg.train.threads, "device": cfg.device,
        "val_tokens": cfg.data.val_sequences * cfg.data.seq_len,
        # intermediate evaluations (on train.eval_sequences, or the whole set) and the final one
        "evals": (min(budget.steps, cfg.train.evals_per_run) if cfg.train.eval_interval == 0
                  else budget.steps // cfg.train.eval_interval) * (
                      min(1.0, cfg.train.eval_sequences / cfg.data.val_sequences) if cfg.train.eval_sequences else 1.0) + 1,
        # The share of the run's steps it trains itself: 1, or a cooldown branch's cooldown.
        "spent_fraction": 1.0,
    }
    pr.branches = []
    for f in forks:
        b = describe(Job(job.num, [*job.overrides, f"(branch {f.budget:g})"], f.cfg))
        if b.info and not f.alone:
            b.info["spent_fraction"] = (f.steps - f.fork_step) / f.steps
            b.info["fork_step"] = f.fork_step
        elif b.info:
            b.info["branch_alone"] = f.alone
        pr.branches.append(b)
    return pr


def with_branches(runs: list[PlannedRun]) -> list[PlannedRun]:
    """Each run followed by its cooldown branches (runs of their own, planned and flagged alike)."""
    return [x for r in runs for x in (r, *r.branches)]


def probe_seconds_per_step(shape, batch_size: int, device_spec: str, threads: int | None, steps: int,
                           cfg=None) -> float:
    """Median seconds of one optimizer step on random tokens, after warm-up steps: the step a run
    takes (harness.run.step.TrainStep: clipping, schedule, precision and compile as ``cfg`` sets them,
    the defaults without one), timed the way a run times it."""
    import torch

    from harness.hardware import resolve_device
    from harness.run.step import StepTimer, TrainStep

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device_spec)
    torch.manual_seed(0)
    step = TrainStep.for_shape(shape, device, cfg.optim if cfg else OptimConfig(),
                               cfg.schedule if cfg else ScheduleConfig(), cfg.train if cfg else TrainConfig())
    batch = torch.randint(0, shape.vocab_size, (batch_size, shape.seq_len + 1), device=device)
    timer = StepTimer(device)
    for _ in range(2):  # the first steps pay for allocation, kernel selection and compilation
        step(batch)
    for _ in range(steps):
        timer.start()
        step(batch)
        timer.stop()
    times = timer.pop_seconds()
    return sorted(times)[len(times) // 2]


def estimate(runs: list[PlannedRun], opts: dict[str, Any], log=print) -> dict[str, Any]:
    """Fill in each run's estimated seconds; returns what the probe measured."""

    if not opts["probe"]:
        return {}
    groups: dict[tuple, list[PlannedRun]] = {}
    for r in runs:
        if r.info:
            m = r.info["model"]
            shape = Shape(**{k: v for k, v in m.items() if k != "name"})
            key = (shape, r.info["batch_size"], r.info["device"], r.info["threads"])
            groups.setdefault(key, []).append(r)
    rate: dict[tuple, float] = {}  # chinchilla FLOPs per second of each probed group
    order = sorted(groups, key=lambda k: groups[k][0].info["flops"]["chinchilla"] / groups[k][0].info["tokens"])
    best_rate = None
    for key in order:
        shape, batch, device, threads = key
        r0 = groups[key][0]
        step_flops = r0.info["flops"]["chinchilla"] / r0.info["steps"]
        guess = step_flops / best_rate if best_rate else 0.0
        if best_rate and guess * (opts["probe_steps"] + 2) > opts["max_probe_s"]:
            continue
        try:
            sec = probe_seconds_per_step(shape, batch, device, threads, int(opts["probe_steps"]), cfg=r0.job.cfg)
        except Exception as e:  # e.g. out of memory: leave it to extrapolation
            log(f"probe of L={shape.n_layer} d={shape.d_model} batch {batch} failed ({type(e).__name__}); extrapolating")
            continue
        rate[key] = step_flops / sec
        best_rate = rate[key] if best_rate is None else max(best_rate, rate[key])
    for key, rs in groups.items():
        for r in rs:
            step_flops = r.info["flops"]["chinchilla"] / r.info["steps"]
            rt = rate.get(key) or best_rate
            if rt is None:
                continue
            r.extrapolated = key not in rate
            train_s = r.info["steps"] * step_flops / rt
            per_token = r.info["flops"]["chinchilla"] / r.info["tokens"]
            eval_s = r.info["evals"] * r.info["val_tokens"] * per_token / 3 / rt
            # A branch trains only its cooldown; its evaluations before the fork are the trunk's.
            r.seconds = (train_s + eval_s) * r.info["spent_fraction"] + opts["overhead_s"]
    return {"probed_shapes": len(rate), "flops_per_second_max": best_rate}


@dataclass
class BudgetCheck:
    budget: float  # train.flops of the group
    prior: str  # the prior's source
    n_opt: float  # its predicted N_opt (total or non-embedding N, as the prior counts)
    n_lo: float  # the group's smallest and largest N
    n_hi: float
    bracketed: bool


def _design_of(master: Any, with_budgets: bool = True) -> dict[str, Any] | None:
    """sweep.design resolved (None when the preset states no design; with_budgets=False: also a
    design node that only states priors, which the planner uses to judge a plain grid)."""
    from omegaconf import OmegaConf

    node = OmegaConf.select(master, "sweep.design") if master is not None else None
    if node is None:
        return None
    d = {k: v for k, v in OmegaConf.to_container(node, resolve=False).items() if k != "point"}
    d = OmegaConf.to_container(OmegaConf.create(d), resolve=True)
    return d if (d.get("budgets") or not with_budgets) else None


def flag_runs(runs: list[PlannedRun], master: Any, opts: dict[str, Any]) -> list[BudgetCheck]:
    """Mark each run's flags (see the module docstring) and check every IsoFLOP budget's bracket
    under its prior(s); returns the budget checks."""
    design = _design_of(master)
    try:
        priors = priors_of(_design_of(master, with_budgets=False) or {}) or [chinchilla_prior()]
    except DesignError as e:
        raise SweepError(str(e)) from None
    span = float(design.get("span", 3.0)) if design else None
    min_steps = int(opts["min_steps"])
    for r in runs:
        if not r.info:
            continue
        i = r.info
        if i["steps"] < min_steps:
            r.flags.append("steps")
            allowed = int(i["tokens"] // (min_steps * i["seq_len"]))
            if 1 <= allowed < i["batch_size"]:
                r.flags.append("batch")
        if i["warmup_steps"] > opts["max_warmup"] * i["steps"]:
            r.flags.append("warmup")
        dn = i["tokens_per_param"]
        lo, hi = opts["dn_min"], opts["dn_max"]
        if design and r.job.cfg is not None and r.job.cfg.train.flops is not None:
            c = r.job.cfg.train.flops
            tpp = [p.tokens_per_param(c) for p in priors]
            lo = max(lo, min(tpp) / span ** 2 / opts["dn_slack"])
            hi = min(hi, max(tpp) * span ** 2 * opts["dn_slack"])
        if not lo <= dn <= hi:
            r.flags.append("D/N")
    checks: list[BudgetCheck] = []
    groups: dict[float, list[PlannedRun]] = {}
    for r in runs:
        if r.info and r.job.cfg is not None and r.job.cfg.train.flops is not None:
            groups.setdefault(r.job.cfg.train.flops, []).append(r)
    one_shape_each = all(len({r.info["params"]["total"] for r in rs}) < 2 for rs in groups.values())
    if (len(groups) < 2 or one_shape_each) and not design:
        return checks  # not an IsoFLOP grid (one run, or one shape's trunk and branches)
    for c, rs in groups.items():
        for p in priors:
            key = "total" if p.n_convention == "total" else "non_embedding"
            ns = [r.info["params"][key] for r in rs]
            ok = bracketed(p.n_opt(c), ns, opts["bracket"])
            checks.append(BudgetCheck(c, p.source, p.n_opt(c), min(ns), max(ns), ok))
            if not ok:
                for r in rs:
                    if "bracket" not in r.flags:
                        r.flags.append("bracket")
    return checks


def flag_summary(runs: list[PlannedRun], checks: list[BudgetCheck], opts: dict[str, Any]) -> list[str]:
    flagged = [r for r in runs if r.flags]
    kinds = {}
    for r in flagged:
        for f in r.flags:
            kinds[f] = kinds.get(f, 0) + 1
    names = {"steps": f"<{opts['min_steps']} steps", "batch": "batch above the budget's",
             "warmup": f"warmup >{opts['max_warmup']:.0%}", "D/N": "D/N out of range",
             "bracket": "minimum not bracketed"}
    lines = [f"flagged: {len(flagged)} of {len(runs)} runs"
             + (" (" + ", ".join(f"{names.get(k, k)}: {v}" for k, v in kinds.items()) + ")" if kinds else "")]
    if checks:
        ok = sum(c.bracketed for c in checks)
        lines.append(f"minima bracketed: {ok} of {len(checks)} (budget x prior; shapes reach N_opt/"
                     f"{opts['bracket']:g} .. N_opt*{opts['bracket']:g})")
        for c in checks:
            lines.append(f"  C={c.budget:.3g}: N_opt {_si(c.n_opt)} predicted, shapes {_si(c.n_lo)}..{_si(c.n_hi)}"
                         f" {'bracketed' if c.bracketed else 'NOT BRACKETED'}  [{c.prior}]")
    return lines


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 10:
        return f"{s:.1f}s"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def h100_seconds(runs: list[PlannedRun], mfu: float) -> float | None:
    from harness.hardware import peak_flops

    peak = peak_flops(H100_NAME, "bf16")
    if not peak:
        return None
    return sum(r.info["flops"]["chinchilla"] * r.info["spent_fraction"]
               for r in runs if r.info and r.status == "new") / (mfu * peak)


def packed_line(runs: list[PlannedRun], opts: dict[str, Any], device: str, n_gpus: int, runs_per_gpu: int) -> str | None:
    """The totals line for runs sharing GPUs (None without GPUs or without estimates)."""

    if opts["pack_slowdown"] < 1:
        raise SweepError(f"plan.pack_slowdown={opts['pack_slowdown']:g}: a run sharing a GPU is not faster than alone (>= 1)")
    secs = [r.seconds for r in runs if r.info and r.status == "new" and r.seconds is not None]
    if n_gpus < 1 or not secs:
        return None
    wall = packed_wall_seconds(secs, n_gpus, runs_per_gpu, opts["pack_slowdown"])
    line = (f"packed on {n_gpus} GPU{'s' if n_gpus > 1 else ''} x {runs_per_gpu} run{'s' if runs_per_gpu > 1 else ''}"
            f" per GPU (sweep.runs_per_gpu), longest run first to the first free slot: {_dur(wall)}")
    if runs_per_gpu > 1:
        line += (f", assuming each run sharing a GPU takes x{opts['pack_slowdown']:g} its time alone "
                 "(plan.pack_slowdown: an assumption, not a measurement; scripts/gpu_check.sh measures it)")
    if "cuda" not in device.lower() and "nvidia" not in device.lower():
        line += f"; per-run estimates timed on {device}, not on the GPUs"
    return line


def render_table(runs: list[PlannedRun], opts: dict[str, Any], device: str, probe: dict[str, Any],
                 packing: tuple[int, int] = (0, 1)) -> str:
    cols = ["#", "model", "L", "d", "N", "N_nonemb", "batch", "steps", "tokens", "D/N",
            "C_6ND", "C_6ND_ne", "C_kaplan", "C_chin", "est", "state", "flags"]
    rows = []
    for r in runs:
        if not r.info:
            rows.append([str(r.job.num), " ".join(r.job.overrides)[:40], *[""] * 13, f"ERROR: {r.error}", ""])
            continue
        m, p, f = r.info["model"], r.info["params"], r.info["flops"]
        num = str(r.job.num) + ("b" if r.info["spent_fraction"] < 1 else "a" if "branch_alone" in r.info else "")
        rows.append([num, m["name"] or m["arch"], str(m["n_layer"]), str(m["d_model"]), _si(p["total"]),
                     _si(p["non_embedding"]), str(r.info["batch_size"]), str(r.info["steps"]), _si(r.info["tokens"]),
                     f"{r.info['tokens_per_param']:.3g}", f"{f['6ND']:.2e}", f"{f['6ND_nonemb']:.2e}",
                     f"{f['kaplan']:.2e}", f"{f['chinchilla']:.2e}",
                     ("~" if r.extrapolated else "") + _dur(r.seconds), r.status, ",".join(r.flags) or "-"])
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    ok = [r for r in runs if r.info]
    new = [r for r in ok if r.status == "new"]
    tot_f = {k: sum(r.info["flops"][k] for r in ok) for k in ("6ND", "6ND_nonemb", "kaplan", "chinchilla")}
    secs = [r.seconds for r in new if r.seconds is not None]
    lines.append("")
    if any(r.info["spent_fraction"] < 1 for r in ok):
        # Cooldown branches: what the sweep spends (trunks whole, branches their cooldown only)
        # against the same runs each trained from scratch.
        spent = sum(r.info["flops"]["6ND"] * r.info["spent_fraction"] for r in ok)
        alone = [r for r in ok if "branch_alone" in r.info]
        if alone:
            lines.append(f"{len(alone)} branch(es) (#a) cannot fork and train alone at full cost: "
                         + "; ".join(f"{r.info['model']['name'] or ''} {r.info['budget']}: {r.info['branch_alone']}"
                                     for r in alone))
        lines.append(f"branches (#b: forked off the run above them, training only their cooldown, none under a "
                     f"constant schedule): "
                     f"{sum(r.info['spent_fraction'] < 1 for r in ok)} branches; FLOPs spent (6ND) {spent:.3g} "
                     f"against {tot_f['6ND']:.3g} for the same runs from scratch ({spent / tot_f['6ND']:.0%})")
    lines.append(f"total: {len(runs)} runs ({len(new)} to train, {len(ok) - len(new)} already recorded, "
                 f"{len(runs) - len(ok)} invalid) | tokens {_si(sum(r.info['tokens'] for r in ok))} | FLOPs "
                 + ", ".join(f"{k} {v:.3g}" for k, v in tot_f.items()))
    if secs:
        lines.append(f"estimated wall time on {device}, one run at a time: {_dur(sum(secs))} for the runs to train"
                     + (" (~ marks extrapolated shapes)" if any(r.extrapolated for r in new) else "")
                     + "; with hydra/launcher=joblib n_jobs=k, roughly that divided by k (if cores allow)")
    packed = packed_line(runs, opts, device, *packing)
    if packed:
        lines.append(packed)
    h = h100_seconds(runs, opts["mfu"])
    if h is not None:
        lines.append(f"on one H100 at {opts['mfu']:.0%} MFU (bf16 dense peak, chinchilla FLOPs): {_dur(h)}")
    return "\n".join(lines)


def to_json(r: PlannedRun) -> dict[str, Any]:
    return {"num": r.job.num, "overrides": r.job.overrides, "run_id": r.run_id, "state": r.status,
            "error": r.error, **r.info, "est_seconds": r.seconds, "est_extrapolated": r.extrapolated,
            "flags": r.flags}


def plan(argv: Sequence[str], out=None) -> list[PlannedRun]:
    out = out or sys.stdout
    opts, args = parse_args(argv)
    master, jobs = expand(args)
    check_fit_settings(master)
    runs = with_branches([describe(j) for j in jobs])
    from harness.hardware import device_name, resolve_device

    dev_spec = next((r.info["device"] for r in runs if r.info), "auto")
    try:
        dev = device_name(resolve_device(dev_spec))
    except Exception:
        dev = dev_spec
    checks = flag_runs(runs, master, opts)
    tuning_lines = []
    if opts["tuning"]:  # rungs with no tuning behind them (harness/tune/flags.py)
        tuning_lines = flag_planned(opts["tuning"], runs)
    summary = flag_summary(runs, checks, opts) + tuning_lines
    probe = estimate(runs, opts, log=lambda m: print(m, file=sys.stderr))
    if opts["format"] == "jsonl":
        for r in runs:
            out.write(json.dumps(to_json(r), allow_nan=False) + "\n")
        print("\n".join(summary), file=sys.stderr)  # stdout stays one JSON object per run
    else:
        name = master.get("sweep_name")
        launcher = str(master.hydra.launcher._target_).rsplit(".", 1)[-1]
        out.write(f"sweep {name}: {len(runs)} runs, launcher {launcher}\n")
        design = _design_of(master)
        if design:
            out.write(f"IsoFLOP design: {len(design['budgets'])} budgets, dense-ladder shapes within "
                      f"x{design.get('span', 3.0):g} of each prior's N_opt(C) (sweep.design)\n")

        n_gpus = int(opts["gpus"]) or visible_gpus()
        runs_per_gpu = int(master.get("sweep", {}).get("runs_per_gpu", 1) or 1)
        out.write(render_table(runs, opts, dev, probe, (n_gpus, runs_per_gpu)) + "\n")
        out.write("\n".join(summary) + "\n")
    return runs
