"""Wasted runs, flagged before any compute is spent (harness/sweep/plan.py's docstring lists the flags).

Per run: too few steps, a batch above the budget's, too long a warmup, tokens per parameter out of
range. Per IsoFLOP budget (runs sharing train.flops): whether its shapes bracket the N_opt(C) of
each prior, the design's or, for a plain train.flops grid, Chinchilla's 20 tokens per parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from harness.config import DesignConfig
from harness.errors import DesignError, SweepError
from harness.shapes.design import Prior, bracketed, chinchilla_prior, priors_of
from harness.sweep.describe import PlannedRun
from harness.sweep.plan_options import PlanOptions
from harness.sweep.units import si

DEFAULT_SPAN = DesignConfig().span  # for a design node that states no span


@dataclass
class BudgetCheck:
    budget: float  # train.flops of the group
    prior: str  # the prior's source
    n_opt: float  # its predicted N_opt (total or non-embedding N, as the prior counts)
    n_lo: float  # the group's smallest and largest N
    n_hi: float
    bracketed: bool


def design_of(master: Any, with_budgets: bool = True) -> dict[str, Any] | None:
    """sweep.design resolved (None when the preset states no design; with_budgets=False: also a
    design node that only states priors, which the planner uses to judge a plain grid)."""
    node = OmegaConf.select(master, "sweep.design") if master is not None else None
    if node is None:
        return None
    d = {k: v for k, v in OmegaConf.to_container(node, resolve=False).items() if k != "point"}
    d = OmegaConf.to_container(OmegaConf.create(d), resolve=True)
    return d if (d.get("budgets") or not with_budgets) else None


def flag_runs(runs: list[PlannedRun], master: Any, opts: PlanOptions) -> list[BudgetCheck]:
    """Mark each run's flags and check every IsoFLOP budget's bracket under its prior(s); returns
    the budget checks."""
    design = design_of(master)
    try:
        priors = priors_of(design_of(master, with_budgets=False) or {}) or [chinchilla_prior()]
    except DesignError as e:
        raise SweepError(str(e)) from None
    span = float(design.get("span", DEFAULT_SPAN)) if design else None
    for r in runs:
        if r.info:
            r.flags += _run_flags(r, opts, priors if design else [], span)
    groups: dict[float, list[PlannedRun]] = {}
    for r in runs:
        if r.info and r.job.cfg is not None and r.job.cfg.train.flops is not None:
            groups.setdefault(r.job.cfg.train.flops, []).append(r)
    one_shape_each = all(len({r.info["params"]["total"] for r in rs}) < 2 for rs in groups.values())
    if (len(groups) < 2 or one_shape_each) and not design:
        return []  # not an IsoFLOP grid (one run, or one shape's trunk and branches)
    return [check for c, rs in groups.items() for check in _bracket_checks(c, rs, priors, opts.bracket)]


def _run_flags(r: PlannedRun, opts: PlanOptions, design_priors: list[Prior], span: float | None) -> list[str]:
    """steps, batch, warmup and D/N; with a design's priors, D/N is judged against their range."""
    i = r.info
    flags = []
    if i["steps"] < opts.min_steps:
        flags.append("steps")
        allowed = int(i["tokens"] // (opts.min_steps * i["seq_len"]))
        if 1 <= allowed < i["batch_size"]:
            flags.append("batch")
    if i["warmup_steps"] > opts.max_warmup * i["steps"]:
        flags.append("warmup")
    lo, hi = opts.dn_min, opts.dn_max
    c = r.job.cfg.train.flops if r.job.cfg is not None else None
    if design_priors and c is not None:
        tpp = [p.tokens_per_param(c) for p in design_priors]
        lo = max(lo, min(tpp) / span ** 2 / opts.dn_slack)
        hi = min(hi, max(tpp) * span ** 2 * opts.dn_slack)
    if not lo <= i["tokens_per_param"] <= hi:
        flags.append("D/N")
    return flags


def _bracket_checks(c: float, rs: list[PlannedRun], priors: list[Prior], factor: float) -> list[BudgetCheck]:
    """Whether the shapes at budget c reach a factor below and above each prior's N_opt(c); the
    runs of a budget that one prior finds unbracketed are flagged ``bracket``."""
    checks = []
    for p in priors:
        key = "total" if p.param_convention == "total" else "non_embedding"
        ns = [r.info["params"][key] for r in rs]
        ok = bracketed(p.n_opt(c), ns, factor)
        checks.append(BudgetCheck(c, p.source, p.n_opt(c), min(ns), max(ns), ok))
        if not ok:
            for r in rs:
                if "bracket" not in r.flags:
                    r.flags.append("bracket")
    return checks


def flag_summary(runs: list[PlannedRun], checks: list[BudgetCheck], opts: PlanOptions) -> list[str]:
    """How many runs each flag marks, then each budget's bracket under each prior."""
    kinds: dict[str, int] = {}
    for r in runs:
        for f in r.flags:
            kinds[f] = kinds.get(f, 0) + 1
    names = {"steps": f"<{opts.min_steps} steps", "batch": "batch above the budget's",
             "warmup": f"warmup >{opts.max_warmup:.0%}", "D/N": "D/N out of range",
             "bracket": "minimum not bracketed"}
    lines = [f"flagged: {sum(bool(r.flags) for r in runs)} of {len(runs)} runs"
             + (" (" + ", ".join(f"{names.get(k, k)}: {v}" for k, v in kinds.items()) + ")" if kinds else "")]
    if checks:
        lines.append(f"minima bracketed: {sum(c.bracketed for c in checks)} of {len(checks)} (budget x prior; "
                     f"shapes reach N_opt/{opts.bracket:g} .. N_opt*{opts.bracket:g})")
        for c in checks:
            lines.append(f"  C={c.budget:.3g}: N_opt {si(c.n_opt)} predicted, shapes {si(c.n_lo)}..{si(c.n_hi)}"
                         f" {'bracketed' if c.bracketed else 'NOT BRACKETED'}  [{c.prior}]")
    return lines
