"""Propose the next runs of an IsoFLOP sweep: the few that most shrink the uncertainty asked about.

    harness-plan --next results/my_sweep [--k 4] [--budget 2e13] [--target a|loss@1e14]
                 [--law chinchilla|approach2] [--seed 0] [--json]

--k: how many runs to propose (default 4); --budget: the most FLOPs (6ND) they may spend in all.

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
   under approach 3 (default) or, for a, approach 2 (``--law approach2``).
   - *approach 3: the linearised (delta-method) interval*, 2·1.96·σ·sqrt(gᵀ(JᵀJ)⁻¹g) with J the
     Jacobian of log L in the law's parameters at every run, g the target's gradient and σ the
     surrogate's rms log residual. Why not re-run the bootstrap on simulated runs, as for
     approach 2: on 9-12 runs the bootstrap interval of a moves by more with its own seed than
     between candidates (measured on results/synthetic_adaptive_cpu/first, 200 resamples,
     seeds 0-3: lower end 0.28, 0.36, 0.49, 0.20), so it would rank noise. The linearised width
     is the same quantity to first order, deterministic and ~1 ms per candidate. It needs no
     simulated losses (only where the runs are) and it underestimates the bootstrap's width
     (by 2-3x in that study, whose ranking it got right): read it as a ranking.
   - *approach 2: its own bootstrap on simulated runs*: each candidate's loss is the surrogate's
     plus its budget's mean residual (so it sits on the measured profile's level) plus Gaussian
     seed noise (std 0.0065 nats, measured on this harness), averaged over a few seeded draws.
     The fitter's approach-2 bootstrap is cheap (~0.05 s for 200 resamples). A resample it drops
     (fewer than two bracketed minima) counts as ``FAIL_WIDTH``: on three shapes per budget most
     are dropped, and the percentile interval of the survivors can be a single point.
5. **Greedy**, move by move, until k runs (and the FLOP budget, if given) are spent. Ties go to
   the earlier candidate. Choosing k runs jointly would cost the product of the candidates'
   counts in fits; with a handful of candidates and k of a few, greedy is the usual shortcut.

Every random draw is seeded (noise per (draw, run) from a stable hash), so the same runs give the
same proposals. On the 20 runs of results/synthetic_isoflop_cpu it takes ~2 s (approach 3, both
targets) to ~3 s (approach 2) on 2 cores, most of it the surrogate's fit.

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
from dataclasses import dataclass

from harness.errors import NextRunsError
from harness.sweep.candidates import Move, candidates
from harness.sweep.runs_so_far import Design, Run, rung_params
from harness.sweep.surrogate import FAIL_WIDTH, SEED_NOISE, Scorer, Simulator, fit_surrogate

LAWS = ("approach2", "chinchilla")
MIN_RUNS = 6  # the surrogate's five parameters, and one run more


@dataclass
class Proposal:
    target: str
    law: str
    width_now: float
    interval_now: list[float] | None
    moves: list[Move]
    notes: list[str]


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


def propose(design: Design, k: int = 4, target: str = "a", law: str | None = None, budget: float | None = None,
            noise: float = SEED_NOISE, draws: int = 4, n_bootstrap: int = 200, seed: int = 0) -> Proposal:
    """Choose up to k runs (and at most ``budget`` FLOPs) that most shrink the target's interval."""
    kind, c_target = parse_target(target)
    law = law or "chinchilla"
    _check_request(design, k, kind, law)
    surrogate, sigma = fit_surrogate(design, law, n_bootstrap, seed, noise)
    sim = Simulator(design, surrogate, noise, seed)
    scorer = Scorer(kind, c_target, law, surrogate, sim, n_bootstrap, seed, sigma, draws)
    notes = [f"surrogate: approach 3 on {len(design.points)} runs, a {surrogate.params_['a']:.3f}, "
             f"E {surrogate.params_['E']:.3g}, rms log residual {sigma:.4f}"]
    rungs = rung_params(design.vocab_size, design.seq_len)
    off_ladder = sum(1 for r in design.runs if r.model not in dict(rungs))
    if off_ladder:
        notes.append(f"{off_ladder} of {len(design.runs)} runs are not named ladder rungs: they are fitted, but "
                     "only ladder_* shapes are proposed, and a budget with none gets no shape proposals")
    if law == "chinchilla":
        notes.append("expected widths: delta-method width of the target at the surrogate's parameters "
                     "(linearised, so an estimate: the bootstrap's own width moves by more than that with its seed)")
        if kind == "a":
            interval_now = list(surrogate.ci_["a"]) if "a" in surrogate.ci_ else None
        else:
            interval_now = (list(surrogate.derived_ci(lambda q: float(q.loss(*surrogate.optimum(q, c_target)))))
                            if n_bootstrap else None)
    else:
        notes.append(f"expected widths: approach 2's bootstrap ({n_bootstrap} resamples) on simulated losses "
                     f"(surrogate + the budget's mean residual + N(0, {noise:g}) seed noise), mean of {draws} draws; "
                     f"failed resamples count as width {FAIL_WIDTH:g}")
        interval_now = scorer.interval(design.points)
    width_now = scorer.expected([])
    chosen = _greedy(scorer, rungs, k, budget, width_now)
    if not chosen:
        notes.append("no candidate fits in the k runs and FLOP budget given")
    return Proposal(target=target, law=law, width_now=width_now, interval_now=interval_now, moves=chosen,
                    notes=notes)


def _check_request(design: Design, k: int, kind: str, law: str) -> None:
    if law not in LAWS:
        raise NextRunsError(f"--law {law!r}: choose approach2 or chinchilla")
    if kind == "loss" and law != "chinchilla":
        raise NextRunsError("--target loss@C needs --law chinchilla (approach 2 predicts no loss)")
    if k < 1:
        raise NextRunsError(f"--k {k}: propose at least one run")
    if len(design.points) < MIN_RUNS:
        raise NextRunsError(f"{len(design.points)} completed runs: the surrogate fit needs at least {MIN_RUNS}")


def _greedy(scorer: Scorer, rungs: list[tuple[str, float]], k: int, budget: float | None,
            width_now: float) -> list[Move]:
    """Move by move, until k runs (and the FLOP budget, if given) are spent: a bracketing move
    whenever one is due and affordable, else the largest expected shrink per run (ties: the
    earlier candidate)."""
    sim = scorer.sim
    design = sim.design
    chosen: list[Move] = []
    extra: list[Run] = []
    spent = 0.0
    current = width_now
    while len(extra) < k:
        runs = list(design.runs) + extra
        losses = list(design.points.loss) + [sim.mean_loss(r) for r in extra]
        best: Move | None = None
        for m in candidates(runs, losses, rungs, lambda c: float(scorer.surrogate.n_opt(c)), scorer.target,
                            scorer.c_target):
            cost = sum(r.flops for r in m.runs)
            if len(extra) + len(m.runs) > k or (budget is not None and spent + cost > budget * (1 + 1e-9)):
                continue
            m.width = scorer.expected(extra + list(m.runs))
            m.shrink = (current - m.width) / len(m.runs)
            if m.kind == "bracket":  # bracketing first: an unbracketed budget is no IsoFLOP minimum at all
                best = m
                break
            if best is None or m.shrink > best.shrink + 1e-12:
                best = m
        if best is None:
            break
        chosen.append(best)
        extra += list(best.runs)
        spent += sum(r.flops for r in best.runs)
        current = best.width
    return chosen
