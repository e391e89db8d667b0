"""Propose the next runs of an IsoFLOP sweep: the few that most shrink the uncertainty asked about.

    harness-plan --next results/my_sweep [--k 4] [--budget 2e13] [--cpu-hours 2] [--target a|loss@1e14]
                 [--law chinchilla|approach2] [--seed 0] [--json]

--k: how many runs to propose (default 4, or up to 12 with --cpu-hours); --budget: the most FLOPs
(6ND) they may spend in all; --cpu-hours: the most CPU-hours, each run's cost estimated from the
sweep's own records on its machine (harness/sweep/run_cost.py: seconds per FLOP against N).

Method (and why):

1. **Surrogate.** The runs so far are fitted once with approach 3 (Chinchilla's
   L = E + A/N^α + B/D^β, the fitter's own code and start grid). It is the only law that
   predicts a loss at any (N, D) and an N_opt at any budget, and it fits from 6 runs, before
   approach 2 has two bracketed minima to work with.
2. **Candidates, by rule** (a handful, not a search over every shape and budget):
   *bracket*: a budget whose lowest loss lies at its smallest or largest shape gets the next
   ladder rung past that edge; *shape*: one more rung within two rungs of the surrogate's
   N_opt(C), or the first untried rung past either end of the sizes tried (D/N variety where
   the profile is thin); *budget*: a new budget (twice the largest, and the target C when the
   loss there is asked and lies above) with the three rungs around the surrogate's N_opt there,
   so it is bracketed by construction. A new budget is one move of three runs: a profile needs
   three sizes.
3. **Bracketing first, by rule.** Chinchilla's IsoFLOP method needs each budget's minimum inside
   the sizes tried; an unbracketed budget gives approach 2 nothing and leaves approach 3 to
   extrapolate. So a bracketing move is taken whenever one is due and affordable, before any
   score is compared.
4. **Then the expected shrink of the target's 95% interval, per run.** The target is the
   allocation exponent a (default) or the optimal loss at a compute C (``--target loss@C``),
   under approach 3 (default) or, for a, approach 2 (``--law approach2``). The width is the one
   the fitter will report: that law's own percentile bootstrap over runs
   (harness/fit/laws/chinchilla.py, approach2.py with its default settings), refitted on the
   runs so far (their measured losses) plus the candidate's runs. A candidate's loss is the
   surrogate's plus its budget's mean residual (so it sits on the measured profile's level),
   times log-normal noise: the seed noise (measured from the sweep's replicate seeds when it has
   any, else the documented 0.4% per run) or, where the surrogate misses the runs so far by more,
   its residual scale, since a new run misses the law by its misfit too (with the seed noise
   alone a whole new budget's width came out up to 2x too narrow). The score is the mean width
   over 4 draws (noise draw t and bootstrap seed seed+t, 200 resamples each): on a dozen runs one
   bootstrap's width moves by 10-25% with its seed alone, and the mean is what to expect to read.
   results/planner_calibration measures it against what the fitter then reported, on the
   committed studies: within 30% where the added runs stay inside the budgets tried. A new budget
   is the surrogate's extrapolation, and where the law misses there the real interval is wider.
   - Why not the linearised (delta-method) width --next used to score by: it was 1.2-3.4x
     narrower than the bootstrap interval it stood for (on results/demo it promised 0.102 after
     one run, against 0.37-0.47 measured). Its ranking is still informative and costs ~1 ms, so
     under approach 3 it screens: a round scores with the bootstrap only its ``screen`` (3) best
     candidates by linearised shrink per run, each costing ~2-5 s on 2 cores.
   - Approach 2 counts a resample it drops (fewer than two bracketed minima) as ``FAIL_WIDTH``:
     on three shapes per budget most are dropped, and the percentile interval of the survivors
     can be a single point. Its fits are cheap, so every candidate is scored.
5. **Greedy**, move by move, until k runs (and the FLOP and CPU-hour budgets, if given) are spent. Ties go to
   the earlier candidate. Choosing k runs jointly would cost the product of the candidates'
   counts in fits; with a handful of candidates and k of a few, greedy is the usual shortcut.

Every random draw is seeded (noise per (draw, run) from a stable hash, bootstrap seeds seed to
seed+3), so the same runs give the same proposals. On results/demo (12 runs) it takes 30-60 s
on 2 busy cores with approach 3 (it took ~4 s before issue 20), most of it the bootstrap refits of
the screened candidates.

Shapes are the named ladder's (harness/shapes/ladder.py), so the commands read ``model=ladder_s``
as the IsoFLOP presets do; the dense ladder of harness/shapes/design.py serves designs stated as a
rule (``sweep.design``), whose runs have no model name to propose by.

The proposals are printed as ``harness-train -m`` commands, one per budget, with the sweep's own
overrides (read from its Hydra folder when present, else the preset whose ``sweep_name`` matches),
plus why each run was chosen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from harness.errors import NextRunsError
from harness.sweep.candidates import Move, candidates
from harness.sweep.run_cost import CostModel, fit_cost
from harness.sweep.runs_so_far import BUDGET_RTOL, Design, Run, rung_params
from harness.sweep.surrogate import (
    Noise,
    Scorer,
    Simulator,
    WidthMethod,
    fit_surrogate,
    measured_noise,
    residual_scale,
)

LAWS = ("approach2", "chinchilla")
MIN_RUNS = 6  # the surrogate's five parameters, and one run more
SCREEN = 3  # candidates per round that approach 3 scores with its bootstrap, the best by the linearised width


@dataclass
class Proposal:
    target: str
    law: str
    width_now: float  # the expected width of the design as it is (mean over the bootstrap seeds)
    interval_now: list[float] | None  # the fitter's interval at the first bootstrap seed
    moves: list[Move]
    notes: list[str]
    method: WidthMethod  # what every width above and in ``moves`` is


def parse_target(text: str) -> tuple[str, float | None]:
    """'a' or 'loss@C' -> (kind, C)."""
    if text == "a":
        return "a", None
    m = re.fullmatch(r"loss@([0-9.eE+-]+)", text)
    if m:
        try:
            c = float(m.group(1))
        except ValueError:
            c = float("nan")
        if math.isfinite(c) and c > 0:
            return "loss", c
    raise NextRunsError(f"--target {text!r}: expected a or loss@C (e.g. loss@1e14)")


def make_scorer(design: Design, target: str = "a", law: str | None = None, noise: float | None = None,
                draws: int = 4, n_bootstrap: int = 200, seed: int = 0) -> tuple[Scorer, WidthMethod]:
    """The surrogate fitted to the design and the scorer of widths on it (the planner's, and the
    calibration's in scripts/planner_calibration.py). ``noise``: the relative seed noise of a
    simulated run; None measures it from the design's replicate seeds, else takes the documented one."""
    kind, c_target = parse_target(target)
    law = law or "chinchilla"
    _check_request(design, kind, law)
    if noise is not None and not (math.isfinite(noise) and noise >= 0):
        raise NextRunsError(f"seed noise {noise!r}: must be a relative spread of 0 or more (0.004 is 0.4%)")
    surrogate, resid = fit_surrogate(design)
    if noise is None:
        spread = replace(measured_noise(design), misfit=residual_scale(resid, surrogate.n_params))
    else:
        spread = Noise(noise, "given")
    # the screen's σ: the rms log residual, at least the seed noise (as --next scored until issue 20)
    sigma = max(float(np.sqrt(np.mean(resid ** 2))), spread.seed)
    sim = Simulator(design, surrogate, spread.relative, seed)
    scorer = Scorer(kind, c_target, law, surrogate, sim, n_bootstrap, seed, sigma, draws)
    return scorer, WidthMethod(law=law, target=target, n_bootstrap=n_bootstrap, draws=draws, seed=seed, noise=spread)


def propose(design: Design, k: int = 4, target: str = "a", law: str | None = None, budget: float | None = None,
            noise: float | None = None, draws: int = 4, n_bootstrap: int = 200, seed: int = 0,
            screen: int = SCREEN, cpu_hours: float | None = None) -> Proposal:
    """Choose up to k runs (at most ``budget`` FLOPs and ``cpu_hours`` CPU-hours) that most shrink
    the target's interval."""
    if k < 1:
        raise NextRunsError(f"--k {k}: propose at least one run")
    cost = fit_cost([r.n for r in design.runs], [r.flops for r in design.runs], design.cpu_seconds)
    if cpu_hours is not None and cost is None:
        raise NextRunsError("--cpu-hours: no run of this sweep records its time as a standalone run (cooldown "
                            "branches time only their cooldown), so there is nothing to estimate a run's cost from")
    scorer, method = make_scorer(design, target, law, noise, draws, n_bootstrap, seed)
    surrogate = scorer.surrogate
    misfit = f", residual scale {method.noise.misfit:.2%} of the loss" if method.noise.misfit else ""
    notes = [f"surrogate: approach 3 on {len(design.points)} runs, a {surrogate.params_['a']:.3f}, "
             f"E {surrogate.params_['E']:.3g}{misfit}"]
    rungs = rung_params(design.vocab_size, design.seq_len)
    off_ladder = sum(1 for r in design.runs if r.model not in dict(rungs))
    if off_ladder:
        notes.append(f"{off_ladder} of {len(design.runs)} runs are not named ladder rungs: they are fitted, but "
                     "only ladder_* shapes are proposed, and a budget with none gets no shape proposals")
    if method.law == "chinchilla":
        notes.append(f"each round scores with the bootstrap the {screen} best candidates by approach 3's "
                     "linearised (delta-method) width, bracketing moves always")
    interval_now = scorer.interval([])
    width_now = scorer.expected([])
    chosen = _greedy(scorer, rungs, k, budget, width_now, screen if method.law == "chinchilla" else None,
                     cost, cpu_hours)
    if cost is not None:
        for m in chosen:
            m.cpu_hours = sum(cost.cpu_hours(r.n, r.flops) for r in m.runs)
        notes.append(f"CPU-hours: estimated from {cost.n_runs} of the sweep's runs on its machine, seconds per FLOP "
                     f"∝ N^{cost.slope:.2f} (an estimate; runs that shared cores make it high)")
    if not chosen:
        notes.append("no candidate fits in the k runs, FLOP budget and CPU-hours given")
    outside = [i for i, m in enumerate(chosen, 1) if any(_extrapolates(design, r) for r in m.runs)]
    if outside:
        # measured: results/synthetic_adaptive_cpu's by_hand_budget landed 3% off its surrogate and widened;
        # results/demo_next_cpu's five runs past the sizes tried landed 3-8.5% below it and narrowed the
        # interval to 0.38 where 0.13 was expected
        notes.append(f"proposal{'s' if len(outside) > 1 else ''} {', '.join(map(str, outside))} lie outside the "
                     "sizes, tokens per parameter or budgets tried: their losses are the surrogate's extrapolation, "
                     "and where the law misses there by more than seed noise the interval comes out wider than "
                     "expected: read those widths as a best case (results/planner_calibration, results/demo_next_cpu)")
    return Proposal(target=target, law=method.law, width_now=width_now, interval_now=interval_now, moves=chosen,
                    notes=notes, method=method)


def _extrapolates(design: Design, run: Run) -> bool:
    """Whether a proposed run lies outside the runs so far in N, in tokens per parameter or in budget."""
    ns = [r.n for r in design.runs]
    ratios = [r.d / r.n for r in design.runs]
    tol = 1 + BUDGET_RTOL
    return not (min(ns) / tol <= run.n <= max(ns) * tol and min(ratios) / tol <= run.d / run.n <= max(ratios) * tol
                and run.flops <= max(r.flops for r in design.runs) * tol)


def _check_request(design: Design, kind: str, law: str) -> None:
    if law not in LAWS:
        raise NextRunsError(f"--law {law!r}: choose approach2 or chinchilla")
    if kind == "loss" and law != "chinchilla":
        raise NextRunsError("--target loss@C needs --law chinchilla (approach 2 predicts no loss)")
    if len(design.points) < MIN_RUNS:
        raise NextRunsError(f"{len(design.points)} completed runs: the surrogate fit needs at least {MIN_RUNS}")


def _greedy(scorer: Scorer, rungs: list[tuple[str, float]], k: int, budget: float | None,
            width_now: float, screen: int | None, cost: CostModel | None = None,
            cpu_hours: float | None = None) -> list[Move]:
    """Move by move, until k runs (and the FLOP and CPU-hour budgets, if given) are spent: a bracketing move
    whenever one is due and affordable, else the largest expected shrink per run among the
    ``screen`` best by linearised shrink (None: all; ties: the earlier candidate)."""
    sim = scorer.sim
    design = sim.design
    chosen: list[Move] = []
    extra: list[Run] = []
    spent = hours = 0.0
    current = width_now

    def move_hours(m: Move) -> float:
        return sum(cost.cpu_hours(r.n, r.flops) for r in m.runs) if cost is not None else 0.0

    while len(extra) < k:
        runs = list(design.runs) + extra
        losses = list(design.points.loss) + [sim.mean_loss(r) for r in extra]
        affordable = [m for m in candidates(runs, losses, rungs, lambda c: float(scorer.surrogate.n_opt(c)),
                                            scorer.target, scorer.c_target)
                      if len(extra) + len(m.runs) <= k
                      and (budget is None or spent + sum(r.flops for r in m.runs) <= budget * (1 + 1e-9))
                      and (cpu_hours is None or hours + move_hours(m) <= cpu_hours * (1 + 1e-9))]
        # bracketing first: an unbracketed budget is no IsoFLOP minimum at all
        pool = [m for m in affordable if m.kind == "bracket"][:1] or _shortlist(scorer, extra, affordable, screen)
        best: Move | None = None
        for m in pool:
            m.width = scorer.expected(extra + list(m.runs))
            m.shrink = (current - m.width) / len(m.runs)
            if best is None or m.shrink > best.shrink + 1e-12:
                best = m
        if best is None or (best.kind != "bracket" and best.shrink <= 0):
            break  # nothing left narrows the interval: spending more would not be worth proposing
        chosen.append(best)
        extra += list(best.runs)
        spent += sum(r.flops for r in best.runs)
        hours += move_hours(best)
        current = best.width
    return chosen


def _shortlist(scorer: Scorer, extra: list[Run], moves: list[Move], screen: int | None) -> list[Move]:
    """The ``screen`` moves of largest linearised shrink per run, in their original order."""
    if screen is None or len(moves) <= screen:
        return moves
    now = scorer.screen(extra)
    gain = [(now - scorer.screen(extra + list(m.runs))) / len(m.runs) for m in moves]
    keep = sorted(sorted(range(len(moves)), key=lambda i: -gain[i])[:screen])
    return [moves[i] for i in keep]
