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

import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.config import conf_dir
from harness.errors import FitInputError, InsufficientData, NextRunsError
from harness.fit.allocation import LawParams
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.points import Points, load_sweep
from harness.records import scan_sweep
from harness.shapes.design import shape_counts
from harness.shapes.ladder import LADDER

SEED_NOISE = 0.0065  # nats: std of the final loss over 4 seeds (shared notes, ladder_xs at 2e12)
FAIL_WIDTH = 1.0  # the width scored when the target cannot be fitted at all
BUDGET_RTOL = 0.05  # runs within 5% of compute are one budget, as approach 2 groups them




@dataclass(frozen=True)
class Run:
    model: str  # a ladder rung's config name, e.g. ladder_xs
    n: float  # total parameters
    flops: float  # the requested budget (train.flops, 6ND)

    @property
    def d(self) -> float:
        return self.flops / (6.0 * self.n)


@dataclass
class Move:
    runs: tuple[Run, ...]
    kind: str  # bracket | shape | budget
    why: str
    width: float | None = None  # expected width of the target's interval once added
    shrink: float | None = None  # expected shrink per run against the state before it


@dataclass
class Design:
    """The runs so far as the proposer sees them: points, and which rung ran at which budget."""

    points: Points
    runs: list[Run]  # one per point, same order; model may be '' for a non-ladder shape
    vocab_size: int
    seq_len: int
    configs: list[dict[str, Any]] = field(default_factory=list)
    sweep_dir: Path | None = None


@dataclass
class Proposal:
    target: str
    law: str
    width_now: float
    interval_now: list[float] | None
    moves: list[Move]
    notes: list[str]


# --- the ladder at the sweep's vocabulary and context ----------------------------------------


def rung_params(vocab_size: int, seq_len: int) -> list[tuple[str, float]]:
    """(config name, total parameters) of every ladder rung, as the runs would count them."""
    return [(r.name, float(shape_counts(r, "gpt2", vocab_size, seq_len).total)) for r in LADDER]


# --- reading a sweep -----------------------------------------------------------------------


def load_design(sweep_dir: str | Path) -> Design:
    """The completed runs of a sweep folder, with each run's rung and requested budget."""

    sweep_dir = Path(sweep_dir)
    try:
        points = load_sweep(sweep_dir)
    except FitInputError as e:
        raise NextRunsError(str(e)) from None
    records, _ = scan_sweep(sweep_dir, quarantine_corrupt=False, status="completed")
    by_id = {r.run_id: r for r in records}
    runs, configs = [], []
    vocab = seq = None
    for i, rid in enumerate(points.labels):
        cfg = by_id[rid].config if isinstance(by_id[rid].config, dict) else {}
        configs.append(cfg)
        data = cfg.get("data") or {}
        vocab, seq = vocab or data.get("vocab_size"), seq or data.get("seq_len")
        flops = (cfg.get("train") or {}).get("flops")
        if not flops or (cfg.get("train") or {}).get("flops_convention") != "6ND":
            raise NextRunsError(f"{sweep_dir}: run {rid} was not sized by train.flops under 6ND; "
                                "--next proposes IsoFLOP runs only")
        runs.append(Run(model=str((cfg.get("model") or {}).get("name") or ""), n=float(points.n[i]),
                        flops=float(flops)))
    if not vocab or not seq:
        raise NextRunsError(f"{sweep_dir}: the records do not say the data's vocab_size and seq_len")
    return Design(points=points, runs=runs, vocab_size=int(vocab), seq_len=int(seq), configs=configs,
                  sweep_dir=sweep_dir)


def design_from_arrays(n: Sequence[float], flops: Sequence[float], loss: Sequence[float],
                       models: Sequence[str] | None = None, vocab_size: int = 128, seq_len: int = 64) -> Design:
    """A design from plain numbers (tests, notebooks): D = C / 6N."""
    n_a, c_a = np.asarray(n, float), np.asarray(flops, float)
    pts = Points.from_arrays(n_a, c_a / (6 * n_a), loss, c_a, labels=[f"run{i}" for i in range(len(n_a))])
    if models is None:
        names = dict((round(p), name) for name, p in rung_params(vocab_size, seq_len))
        models = [names.get(round(x), "") for x in n_a]
    return Design(points=pts, runs=[Run(m, float(x), float(c)) for m, x, c in zip(models, n_a, c_a)],
                  vocab_size=vocab_size, seq_len=seq_len)


# --- the target and its interval ------------------------------------------------------------


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


class Scorer:
    """The expected width of the target's 95% interval on a design (see the module docstring).

    approach2: the fitter's own bootstrap on simulated losses (``width``). chinchilla: the
    linearised (delta-method) width at the surrogate's parameters (``linear_width``), which
    needs no losses at all, only where the runs are.
    """

    def __init__(self, target: str, c_target: float | None, law: str, surrogate: ChinchillaFit,
                 n_bootstrap: int, seed: int, sigma: float) -> None:
        self.target, self.c_target, self.law = target, c_target, law
        self.surrogate, self.n_bootstrap, self.seed, self.sigma = surrogate, n_bootstrap, seed, sigma
        self.last_ok_ = 1.0  # share of the last fit's bootstrap resamples that gave a value
        p = surrogate.chinchilla_
        self.theta = np.log([p.A, p.B, p.E]).tolist() + [p.alpha, p.beta]

    # approach 2 ----------------------------------------------------------------------------
    def interval(self, pts: Points) -> list[float] | None:
        """The fitter's approach-2 bootstrap interval of a on these points (None: no fit)."""
        try:
            f = IsoFlopFit(n_bootstrap=self.n_bootstrap, seed=self.seed).fit(pts)
        except (InsufficientData, FitInputError, np.linalg.LinAlgError, ValueError, OverflowError):
            return None
        self.last_ok_ = f.details_["n_bootstrap"] / self.n_bootstrap if self.n_bootstrap else 1.0
        return list(f.ci_["a"]) if "a" in f.ci_ else None

    def width(self, pts: Points) -> float:
        """Approach 2's interval width, with each failed resample counted as ``FAIL_WIDTH``.

        Approach 2 drops a resample that leaves fewer than two bracketed minima (on three shapes
        per budget, most of them: a resample keeps all three sizes with probability 2/9), and
        the percentile interval of the few survivors can be a single point. Weighting by the
        share that survived keeps such a design from scoring as if a were pinned.
        """
        ci = self.interval(pts)
        if ci is None or not all(math.isfinite(v) for v in ci):
            return FAIL_WIDTH
        ok = self.last_ok_
        return float(ok * (ci[1] - ci[0]) + (1 - ok) * FAIL_WIDTH)

    # approach 3 ----------------------------------------------------------------------------
    @staticmethod
    def _log_loss(theta: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
        la, lb, le, al, be = theta
        return np.logaddexp(np.logaddexp(la - al * np.log(n), lb - be * np.log(d)), le)

    def _quantity(self, theta: np.ndarray) -> float:
        la, lb, le, al, be = theta
        if self.target == "a":
            return be / (al + be)
        q = LawParams(E=math.exp(le), A=math.exp(la), B=math.exp(lb), alpha=al, beta=be)
        return float(q.loss(*self.surrogate.optimum(q, self.c_target)))

    def linear_width(self, n: np.ndarray, d: np.ndarray) -> float:
        """2 x 1.96 x the delta-method standard error of the target, for runs at (n, d).

        The fit minimises residuals of log L in θ = (log A, log B, log E, α, β); near the
        optimum Cov(θ) ≈ σ² (JᵀJ)⁻¹ with J the Jacobian of log L at each run, and the target's
        variance is gᵀ Cov g with g its gradient in θ (central differences on both).
        """
        th = np.asarray(self.theta, dtype=float)
        h = 1e-5
        jac = np.empty((len(n), 5))
        grad = np.empty(5)
        for j in range(5):
            e = np.zeros(5)
            e[j] = h
            jac[:, j] = (self._log_loss(th + e, n, d) - self._log_loss(th - e, n, d)) / (2 * h)
            grad[j] = (self._quantity(th + e) - self._quantity(th - e)) / (2 * h)
        info = jac.T @ jac
        cov = np.linalg.pinv(info, rcond=1e-12)
        var = float(grad @ cov @ grad)
        # A direction the runs do not constrain at all (pinv's null space) leaves the target free.
        null = np.linalg.svd(info, compute_uv=False)
        if null[-1] < 1e-12 * null[0] or not math.isfinite(var) or var < 0:
            return FAIL_WIDTH
        return min(FAIL_WIDTH, 2 * 1.96 * self.sigma * math.sqrt(var))


# --- candidates -----------------------------------------------------------------------------


def _budgets(runs: Sequence[Run]) -> list[float]:
    out: list[float] = []
    for c in sorted({r.flops for r in runs}):
        if not out or c > out[-1] * (1 + BUDGET_RTOL):
            out.append(c)
    return out


def _same_budget(a: float, b: float) -> bool:
    return abs(math.log(a / b)) <= math.log1p(BUDGET_RTOL)


def _ratio(x: float) -> str:
    """A tokens-per-parameter ratio as a person writes it: 1785, 23, 0.27."""
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def _nice(c: float) -> float:
    """Round a budget to 1-2 significant figures, as a person would type it."""
    e = math.floor(math.log10(c))
    return round(c / 10 ** e, 1) * 10 ** e


def candidates(runs: Sequence[Run], losses: Sequence[float], rungs: list[tuple[str, float]],
               n_opt, target: str, c_target: float | None, span: int = 2) -> list[Move]:
    """Rule-based moves on the current design (real runs plus runs already chosen)."""
    names = [r[0] for r in rungs]
    index = {name: i for i, name in enumerate(names)}
    moves: list[Move] = []
    bracket: list[Move] = []
    def has(model: str, c: float) -> bool:
        return any(r.model == model and _same_budget(r.flops, c) for r in runs)

    def run(i: int, c: float) -> Run:
        return Run(names[i], rungs[i][1], c)

    for c in _budgets(runs):
        idx = [k for k, r in enumerate(runs) if _same_budget(r.flops, c)]
        tried = sorted({index[runs[k].model] for k in idx if runs[k].model in index})
        if not tried:
            continue
        best = min(idx, key=lambda k: losses[k])
        i_best = index.get(runs[best].model)
        if i_best is not None:
            if i_best == tried[-1] and i_best + 1 < len(names) and not has(names[i_best + 1], c):
                bracket.append(Move((run(i_best + 1, c),), "bracket",
                                    f"C={c:.3g}: lowest loss at the largest shape tried ({names[i_best]}); "
                                    f"{names[i_best + 1]} brackets the minimum"))
            elif i_best == tried[0] and i_best - 1 >= 0 and not has(names[i_best - 1], c):
                bracket.append(Move((run(i_best - 1, c),), "bracket",
                                    f"C={c:.3g}: lowest loss at the smallest shape tried ({names[i_best]}); "
                                    f"{names[i_best - 1]} brackets the minimum"))
        centre = int(np.argmin([abs(math.log(p / n_opt(c))) for _, p in rungs]))
        near = set(range(max(0, centre - span), min(len(names), centre + span + 1)))
        # and the first untried rung past each end of the sizes tried: a budget whose neighbourhood
        # is all run still offers D/N variety at its edges
        below = [j for j in range(tried[0] - 1, -1, -1) if not has(names[j], c)]
        above = [j for j in range(tried[-1] + 1, len(names)) if not has(names[j], c)]
        near |= set(below[:1]) | set(above[:1])
        for j in sorted(near):
            if not has(names[j], c) and not any(m.runs[0] == run(j, c) for m in bracket):
                where = (f"near the predicted optimum N_opt {n_opt(c):.3g}" if abs(j - centre) <= span
                         else "past the sizes tried")
                moves.append(Move((run(j, c),), "shape",
                                  f"C={c:.3g}: one more shape ({names[j]}, D/N {_ratio(c / (6 * rungs[j][1] ** 2))}) "
                                  f"{where}: more D/N variety"))
    largest = max(r.flops for r in runs)
    new_cs = [_nice(2 * largest)]
    if target == "loss" and c_target is not None and c_target > largest * (1 + BUDGET_RTOL):
        new_cs.append(c_target)
    for c in dict.fromkeys(new_cs):
        if any(_same_budget(c, r.flops) for r in runs):
            continue
        centre = int(np.argmin([abs(math.log(p / n_opt(c))) for _, p in rungs]))
        centre = min(max(centre, 1), len(names) - 2)
        moves.append(Move(tuple(run(j, c) for j in (centre - 1, centre, centre + 1)), "budget",
                          f"new budget C={c:.3g} above the largest ({largest:.3g}): the three rungs around its "
                          f"predicted N_opt {n_opt(c):.3g}, so its minimum is bracketed"))
    return bracket + moves


# --- simulation and the greedy choice ---------------------------------------------------------


def _noise(seed: int, draw: int, r: Run) -> float:
    key = zlib.crc32(f"{r.model}|{r.flops:.6g}|{draw}|{seed}".encode())
    return float(np.random.default_rng([seed, draw, key]).normal())


class Simulator:
    def __init__(self, design: Design, surrogate: ChinchillaFit, noise: float, seed: int) -> None:
        self.design, self.surrogate, self.noise, self.seed = design, surrogate, noise, seed
        pts = design.points
        resid = pts.loss - surrogate.predict(pts.n, pts.d)
        self.offsets = [(c, float(np.mean([resid[k] for k, r in enumerate(design.runs) if _same_budget(r.flops, c)])))
                        for c in _budgets(design.runs)]

    def mean_loss(self, r: Run) -> float:
        off = next((o for c, o in self.offsets if _same_budget(c, r.flops)), 0.0)
        return float(self.surrogate.predict(r.n, r.d)) + off

    def points(self, extra: Sequence[Run], draw: int) -> Points:
        pts = self.design.points
        if not extra:
            return pts
        loss = [self.mean_loss(r) + self.noise * _noise(self.seed, draw, r) for r in extra]
        return Points(n=np.concatenate([pts.n, [r.n for r in extra]]),
                      d=np.concatenate([pts.d, [r.d for r in extra]]),
                      c=np.concatenate([pts.c, [r.flops for r in extra]]),
                      loss=np.concatenate([pts.loss, loss]),
                      labels=list(pts.labels) + [f"sim:{r.model}@{r.flops:.3g}" for r in extra],
                      c_convention=pts.c_convention, n_convention=pts.n_convention)


def propose(design: Design, k: int = 4, target: str = "a", law: str | None = None, budget: float | None = None,
            noise: float = SEED_NOISE, draws: int = 4, n_bootstrap: int = 200, seed: int = 0) -> Proposal:
    """Choose up to k runs (and at most ``budget`` FLOPs) that most shrink the target's interval."""
    kind, c_target = parse_target(target)
    law = law or "chinchilla"
    if law not in ("approach2", "chinchilla"):
        raise NextRunsError(f"--law {law!r}: choose approach2 or chinchilla")
    if kind == "loss" and law != "chinchilla":
        raise NextRunsError("--target loss@C needs --law chinchilla (approach 2 predicts no loss)")
    if k < 1:
        raise NextRunsError(f"--k {k}: propose at least one run")
    if len(design.points) < 6:
        raise NextRunsError(f"{len(design.points)} completed runs: the surrogate fit needs at least 6")
    try:
        surrogate = ChinchillaFit(n_bootstrap=n_bootstrap if law == "chinchilla" else 0, seed=seed).fit(design.points)
    except FitInputError as e:
        raise NextRunsError(f"the surrogate fit (approach 3) failed: {e}") from None
    pts = design.points
    resid = np.log(pts.loss) - np.log(surrogate.predict(pts.n, pts.d))
    # The scale of a residual as the fit sees it: the form's misfit where it exceeds the seed noise.
    sigma = max(float(np.sqrt(np.mean(resid ** 2))), noise / float(np.mean(pts.loss)))
    rungs = rung_params(design.vocab_size, design.seq_len)
    scorer = Scorer(kind, c_target, law, surrogate, n_bootstrap, seed, sigma)
    sim = Simulator(design, surrogate, noise, seed)
    n_opt = lambda c: float(surrogate.n_opt(c))  # noqa: E731 (a one-line closure reads best here)
    notes = [f"surrogate: approach 3 on {len(pts)} runs, a {surrogate.params_['a']:.3f}, "
             f"E {surrogate.params_['E']:.3g}, rms log residual {sigma:.4f}"]
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
        interval_now = scorer.interval(pts)

    def expected(extra: list[Run]) -> float:
        if law == "chinchilla":
            n = np.concatenate([pts.n, [r.n for r in extra]])
            d = np.concatenate([pts.d, [r.d for r in extra]])
            return scorer.linear_width(n, d)
        if not extra:
            return scorer.width(pts)
        return float(np.mean([scorer.width(sim.points(extra, t)) for t in range(draws)]))

    width_now = expected([])
    chosen: list[Move] = []
    extra: list[Run] = []
    spent = 0.0
    current = width_now
    while len(extra) < k:
        runs = list(design.runs) + extra
        losses = list(pts.loss) + [sim.mean_loss(r) for r in extra]
        best: Move | None = None
        for m in candidates(runs, losses, rungs, n_opt, kind, c_target):
            cost = sum(r.flops for r in m.runs)
            if len(extra) + len(m.runs) > k or (budget is not None and spent + cost > budget * (1 + 1e-9)):
                continue
            m.width = expected(extra + list(m.runs))
            m.shrink = (current - m.width) / len(m.runs)
            if m.kind == "bracket":  # bracketing first: an unbracketed budget is no IsoFLOP minimum at all
                best = m
                break
            if best is None or m.shrink > best.shrink + 1e-12:
                best = m
        if best is None:
            if not chosen:
                notes.append("no candidate fits in the k runs and FLOP budget given")
            break
        chosen.append(best)
        extra += list(best.runs)
        spent += sum(r.flops for r in best.runs)
        current = best.width
    return Proposal(target=target, law=law, width_now=width_now, interval_now=interval_now, moves=chosen,
                    notes=notes)


# --- printing -------------------------------------------------------------------------------


def sweep_overrides(design: Design) -> list[str]:
    """The sweep's command-line overrides, less the grid (train.flops, model) that --next replaces.

    From the newest Hydra multirun folder under the sweep when present; else the shipped preset
    whose sweep_name is the sweep's, plus out_dir and sweep_name as the records say.
    """
    cfg = design.configs[0] if design.configs else {}
    out_dir, name = cfg.get("out_dir"), cfg.get("sweep_name")
    if design.sweep_dir is not None:  # the runs go where the sweep asked about is, whatever its records say
        out_dir, name = design.sweep_dir.parent.as_posix(), design.sweep_dir.name
    if design.sweep_dir is not None:
        for mr in sorted((design.sweep_dir / "hydra").glob("*/multirun.yaml"), reverse=True):
            from omegaconf import OmegaConf

            try:
                task = list(OmegaConf.load(mr).hydra.overrides.task)
            except Exception:  # an unreadable Hydra file: fall back to the preset
                continue
            keep = [o for o in task if o.split("=", 1)[0].lstrip("+~") not in
                    ("train.flops", "model", "out_dir", "sweep_name")]
            return keep + [f"out_dir={out_dir}", f"sweep_name={name}"]
    out = []

    preset = cfg.get("sweep_name")  # the records' own sweep_name names their preset, when shipped
    for p in sorted((conf_dir() / "sweep").glob("*.yaml")):
        if re.search(rf"^sweep_name:\s*{re.escape(str(preset))}\s*$", p.read_text(), re.M):
            out.append(f"sweep={p.stem}")
            break
    if out_dir:
        out.append(f"out_dir={out_dir}")
    if name:
        out.append(f"sweep_name={name}")
    return out


def commands(design: Design, moves: Sequence[Move]) -> list[str]:
    base = " ".join(sweep_overrides(design))
    by_c: dict[float, list[str]] = {}
    for m in moves:
        for r in m.runs:
            by_c.setdefault(r.flops, []).append(r.model)
    return [f"harness-train -m {base} train.flops={c:.3g} model={','.join(models)}".replace("  ", " ")
            for c, models in sorted(by_c.items(), reverse=True)]


def render(design: Design, prop: Proposal) -> str:
    lines = [f"--next: {len(design.points)} runs so far; target {prop.target} ({prop.law})"]
    if prop.interval_now:
        lo, hi = prop.interval_now
        now = f"[{lo:.3f}, {hi:.3f}] (width {hi - lo:.3f})"
    else:
        now = "none (the fit fails)"
    lines.append(f"95% bootstrap interval now: {now}; scored width now {prop.width_now:.3f}")
    lines += [f"note: {n}" for n in prop.notes]
    for i, m in enumerate(prop.moves, 1):
        runs = ", ".join(f"{r.model} at {r.flops:.3g} (D/N {_ratio(r.d / r.n)})" for r in m.runs)
        lines.append(f"{i}. [{m.kind}] {runs}: expected width after {m.width:.3f} "
                     f"({m.shrink:+.3f} per run). {m.why}")
    if prop.moves:
        lines.append("commands (one per budget):")
        lines += ["  " + c for c in commands(design, prop.moves)]
    return "\n".join(lines)


def to_json(design: Design, prop: Proposal) -> dict[str, Any]:
    return {"target": prop.target, "law": prop.law, "width_now": prop.width_now, "interval_now": prop.interval_now,
            "runs": [{"model": r.model, "n": r.n, "flops": r.flops, "kind": m.kind, "why": m.why,
                      "expected_width": m.width} for m in prop.moves for r in m.runs],
            "commands": commands(design, prop.moves), "notes": prop.notes}


USAGE = ("usage: harness-plan --next SWEEP_DIR [--k N] [--budget FLOPS] [--target a|loss@C] "
         "[--law chinchilla|approach2] [--seed N] [--json]")


def main(argv: Sequence[str]) -> int:
    """``harness-plan --next ...``: returns the exit status (errors print one line)."""
    import sys

    args = list(argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    opts: dict[str, str] = {}
    flags = {"--k", "--budget", "--target", "--law", "--seed"}
    pos = []
    i = 0
    while i < len(args):
        a = args[i]
        key, eq, val = a.partition("=")
        if key in flags:
            if not eq:
                if i + 1 >= len(args):
                    print(f"harness-plan: {key} needs a value; {USAGE}", file=sys.stderr)
                    return 2
                val = args[i + 1]
                i += 1
            opts[key] = val
        elif a == "--json":
            opts[a] = "1"
        elif a.startswith("--"):
            print(f"harness-plan: unknown option {a}; {USAGE}", file=sys.stderr)
            return 2
        else:
            pos.append(a)
        i += 1
    if len(pos) != 1:
        print(f"harness-plan: --next takes one sweep folder; {USAGE}", file=sys.stderr)
        return 2
    try:
        k = int(opts.get("--k", "4"))
        budget = float(opts["--budget"]) if "--budget" in opts else None
        seed = int(opts.get("--seed", "0"))
    except ValueError as e:
        print(f"harness-plan: --k, --budget and --seed take numbers ({e})", file=sys.stderr)
        return 2
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        print(f"harness-plan: --budget {budget:g}: must be a positive number of FLOPs", file=sys.stderr)
        return 2
    try:
        design = load_design(pos[0])
        prop = propose(design, k=k, target=opts.get("--target", "a"), law=opts.get("--law"), budget=budget,
                       seed=seed)
    except NextRunsError as e:
        print(f"harness-plan: {e}", file=sys.stderr)
        return 2
    if "--json" in opts:
        print(json.dumps(to_json(design, prop), indent=1))
    else:
        print(render(design, prop))
    return 0
