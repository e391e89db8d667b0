"""Loss against log(lr) per shape, and lr*(N) across shapes, from a tuning sweep's run records.

Per shape (runs grouped by model shape and by every other setting that moves the optimum: batch,
tokens, beta2), a parabola in x = ln(lr) is fitted by least squares through the grid points
nearest the lowest loss (the lowest and up to two on each side), as Porian et al. 2024 do. Its
vertex is the tuned rate; its curvature ``a`` (nats per (ln lr)^2) is what turns a rate off the
optimum into a loss penalty, a * ln(lr / lr*)^2. The interval comes from a parametric bootstrap:
the losses are redrawn with the fit's residual scatter (never below ``noise``, because three
points fit a parabola exactly and would otherwise claim no uncertainty at all) and refitted.

Across shapes, ln lr* = ln c + e ln(N / 1e5) by least squares over the shapes whose optimum lies
inside their grid. The interval on e is the wider of (i) the bootstrap through the shapes'
redrawn optima and (ii) the t interval of the regression's own scatter, so neither a noisy curve
nor shapes that disagree with the line can make it look tighter than it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness import records
from harness.errors import TuningError
from harness.flops import shape_label

N_REF = 1e5  # the rule's reference size, as harness/shapes/rules.py
SCHEMA = "harness-tuning/1"




@dataclass
class GridPoint:
    lr: float
    loss: float | None  # None: the run diverged (or ended without a finite loss)
    run_id: str
    multiplier: float | None = None  # lr / the reference rule's rate for this shape


@dataclass
class ShapeTuning:
    key: str  # the shape (model name or L/d) plus any setting that differs between groups
    model: str
    n: float  # non-embedding parameters, as the rule counts
    n_total: float
    tokens: float
    batch_size: int
    beta2: float
    points: list[GridPoint]
    lr_opt: float  # the vertex (or, without a usable parabola, the best grid rate)
    lr_ci: list[float | None]  # 95% interval; an open end is None (optimum at the grid's edge)
    loss_opt: float
    curvature: float | None  # a in loss = a (ln lr - ln lr*)^2 + loss_opt; None when not fitted
    edge: str | None  # "low" | "high" when the best rate is the grid's end: the optimum lies beyond it
    fitted_on: int  # grid points in the parabola
    rule_lr: float | None = None  # the reference rule's rate for this shape
    rule_penalty: float | None = None  # loss the reference rule's rate costs, by the parabola
    notes: list[str] = field(default_factory=list)

    def penalty(self, lr: float) -> float | None:
        if self.curvature is None:
            return None
        return self.curvature * math.log(lr / self.lr_opt) ** 2


@dataclass
class PowerLawFit:
    c: float  # lr*(N) = c * (N / 1e5) ** e
    e: float
    c_ci: list[float]
    e_ci: list[float]
    shapes: list[str]  # the shapes fitted (those with an optimum inside their grid)
    n_range: list[float]  # smallest and largest N fitted

    def lr(self, n: float) -> float:
        return self.c * (n / N_REF) ** self.e


@dataclass
class TuningResult:
    source: str  # the tuning sweep's folder name (no absolute path: results are committed)
    shapes: list[ShapeTuning]
    law: PowerLawFit | None
    reference: dict[str, float]  # the rule the grid was centred on: lr_ref, lr_exp, and its preset
    noise: float
    schema: str = SCHEMA
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> "TuningResult":
        try:
            if d.get("schema") != SCHEMA:
                raise TuningError(f"{where}: not a tuning result (schema {d.get('schema')!r}, expected {SCHEMA!r})")
            shapes = [ShapeTuning(**{**s, "points": [GridPoint(**p) for p in s["points"]]}) for s in d["shapes"]]
            law = PowerLawFit(**d["law"]) if d.get("law") else None
            return cls(source=d["source"], shapes=shapes, law=law, reference=dict(d["reference"]),
                       noise=float(d["noise"]), schema=d["schema"], notes=list(d.get("notes", [])))
        except TuningError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise TuningError(f"{where}: malformed tuning result ({type(e).__name__}: {e})") from None

    def shape_for(self, n: float, rel: float = 0.02) -> ShapeTuning | None:
        """The tuned shape of this non-embedding size (the best group when several), if any."""
        same = [s for s in self.shapes if abs(s.n - n) <= rel * n]
        return min(same, key=lambda s: s.loss_opt) if same else None


def load_result(path: str | Path) -> TuningResult:
    """A tuning.json, or a tuning sweep folder holding one; a one-line TuningError otherwise."""
    p = Path(path)
    if p.is_dir():
        p = p / "tuning.json"
    if not p.is_file():
        raise TuningError(f"{path}: no tuning result there (expected tuning.json; run harness-tune on the sweep)")
    try:
        d = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise TuningError(f"{p}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise TuningError(f"{p}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict):
        raise TuningError(f"{p}: not a tuning result (a JSON {type(d).__name__}, expected an object)")
    return TuningResult.from_json(d, str(p))


# -- per shape ------------------------------------------------------------------------------------

def _vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float] | None:
    """(x*, y*, a) of the least-squares parabola y = a (x - x*)^2 + y*, or None when it opens down."""
    a, b, c = np.polyfit(x, y, 2)
    if not a > 0:
        return None
    xv = -b / (2 * a)
    return float(xv), float(c - b * b / (4 * a)), float(a)


def fit_shape(points: Sequence[GridPoint], noise: float = 0.003, n_boot: int = 400,
              rng: np.random.Generator | None = None, half_width: int = 2, window: float = 0.15) -> dict[str, Any]:
    """The optimum of one shape's grid: lr_opt, lr_ci, loss_opt, curvature, edge, fitted_on,
    notes, and ``draws`` (bootstrap values of ln lr*, for the power law's interval)."""
    rng = rng or np.random.default_rng(0)
    ok = sorted((p for p in points if p.loss is not None and math.isfinite(p.loss)), key=lambda p: p.lr)
    notes: list[str] = []
    bad = [p for p in points if p not in ok]
    if bad:
        notes.append(f"{len(bad)} run(s) without a finite loss (diverged) at lr "
                     + ", ".join(f"{p.lr:.3g}" for p in sorted(bad, key=lambda p: p.lr)) + "; left out")
    if not ok:
        raise TuningError("no grid point with a finite loss")
    lrs = [p.lr for p in ok]
    if len(set(lrs)) != len(lrs):
        raise TuningError(f"two runs at the same lr {sorted(lrs)}: group them by the setting that differs")
    x = np.log(np.array(lrs))
    y = np.array([p.loss for p in ok], dtype=float)
    i = int(np.argmin(y))
    # A diverged run above the best rate closes the grid there: the optimum is not beyond it.
    diverged_above = any(p.lr > lrs[i] for p in bad)
    edge = None
    if i == 0:
        edge = "low"
    elif i == len(ok) - 1 and not diverged_above:
        edge = "high"
    lo, hi = max(0, i - half_width), min(len(ok), i + half_width + 1)
    # The second neighbour on a side is left out when its loss is more than ``window`` above the
    # best: a rate on the wall of instability (a loss jumping by tenths of a nat) is not on the
    # bowl a parabola describes, and one such point drags the vertex far below every measured loss.
    while lo < i - 1 and y[lo] > y[i] + window:
        lo += 1
    while hi > i + 2 and y[hi - 1] > y[i] + window:
        hi -= 1
    if hi - lo < 3 and len(ok) >= 3:
        lo, hi = (0, 3) if i < 2 else (len(ok) - 3, len(ok))
    xs, ys = x[lo:hi], y[lo:hi]
    if hi - lo < min(len(ok), i + half_width + 1) - max(0, i - half_width):
        notes.append(f"grid points more than {window:g} nats above the best left out of the parabola")
    out: dict[str, Any] = {"edge": edge, "notes": notes, "fitted_on": 0, "curvature": None}
    v = _vertex(xs, ys) if len(xs) >= 3 else None
    if v is None or edge is not None or not (x[0] <= v[0] <= x[-1]):
        # No interior minimum to fit: report the best grid rate, and its neighbours as the interval.
        if edge is None and len(xs) < 3:
            notes.append(f"{len(xs)} finite grid points: too few for a parabola; best grid rate used")
        elif edge is None and v is None:
            notes.append("the losses near the minimum do not curve upwards: no parabola; best grid rate used")
        elif edge is None:
            notes.append(f"the parabola's vertex ({math.exp(v[0]):.3g}) falls outside the grid; best grid rate used")
        out.update(lr_opt=lrs[i], loss_opt=float(y[i]),
                   lr_ci=[lrs[i - 1] if i > 0 else None, lrs[i + 1] if i + 1 < len(lrs) else None],
                   draws=None)
        if v is not None:
            out["curvature"] = v[2]
            out["fitted_on"] = len(xs)
        return out
    xv, yv, a = v
    resid = ys - (a * (xs - xv) ** 2 + yv)
    dof = len(xs) - 3
    sigma = max(noise, float(np.sqrt(np.sum(resid ** 2) / dof)) if dof > 0 else 0.0)
    draws = []
    for _ in range(n_boot):
        yb = ys + rng.normal(0.0, sigma, size=len(ys))
        vb = _vertex(xs, yb)
        # A redraw with no upward parabola counts its best point; one whose vertex leaves the
        # fitted points counts that end: the grid says nothing beyond it.
        draws.append(float(xs[int(np.argmin(yb))]) if vb is None else min(max(vb[0], xs[0]), xs[-1]))
    d = np.array(draws)
    out.update(lr_opt=math.exp(xv), loss_opt=yv, curvature=a, fitted_on=len(xs),
               lr_ci=[math.exp(float(np.percentile(d, 2.5))), math.exp(float(np.percentile(d, 97.5)))],
               draws=d)
    return out


# -- across shapes ----------------------------------------------------------------------------------

def fit_power_law(shapes: Sequence[ShapeTuning], draws: dict[str, np.ndarray | None]) -> PowerLawFit | None:
    use = [s for s in shapes if s.edge is None and draws.get(s.key) is not None]
    if len({s.n for s in use}) < 2:
        return None
    u = np.log(np.array([s.n for s in use]) / N_REF)
    v = np.log(np.array([s.lr_opt for s in use]))
    e, lnc = np.polyfit(u, v, 1)
    k = len(use)
    e_lo, e_hi = e, e
    c_lo, c_hi = lnc, lnc
    if k >= 3:
        from scipy import stats

        resid = v - (e * u + lnc)
        s2 = float(np.sum(resid ** 2) / (k - 2))
        sxx = float(np.sum((u - u.mean()) ** 2))
        t = float(stats.t.ppf(0.975, k - 2))
        se_e = math.sqrt(s2 / sxx)
        se_c = math.sqrt(s2 * (1 / k + u.mean() ** 2 / sxx))
        e_lo, e_hi, c_lo, c_hi = e - t * se_e, e + t * se_e, lnc - t * se_c, lnc + t * se_c
    mat = np.array([draws[s.key] for s in use])  # shapes x resamples
    fits = np.array([np.polyfit(u, mat[:, b], 1) for b in range(mat.shape[1])])
    e_lo = min(e_lo, float(np.percentile(fits[:, 0], 2.5)))
    e_hi = max(e_hi, float(np.percentile(fits[:, 0], 97.5)))
    c_lo = min(c_lo, float(np.percentile(fits[:, 1], 2.5)))
    c_hi = max(c_hi, float(np.percentile(fits[:, 1], 97.5)))
    return PowerLawFit(c=math.exp(lnc), e=float(e), c_ci=[math.exp(c_lo), math.exp(c_hi)], e_ci=[e_lo, e_hi],
                       shapes=[s.key for s in use], n_range=[min(s.n for s in use), max(s.n for s in use)])


# -- from records -----------------------------------------------------------------------------------

def _group_key(rec: Any) -> tuple[str, tuple]:
    cfg = rec.config or {}
    m = cfg.get("model", {})
    name = m.get("name") or shape_label(m.get("n_layer"), m.get("d_model"))
    opt, tr = cfg.get("optim", {}), cfg.get("train", {})
    # Everything that can move the optimum besides lr: runs differing in it are separate curves.
    setting = (tuple(sorted((rec.shape or {}).items())), rec.tokens, tr.get("batch_size"), opt.get("beta2"),
               opt.get("weight_decay"), (cfg.get("schedule") or {}).get("name"), rec.data_fingerprint)
    return name, setting


def analyse_records(recs: Sequence[Any], source: str, reference: dict[str, float] | None = None,
                    noise: float = 0.003, n_boot: int = 400, seed: int = 0) -> TuningResult:
    """Fit every shape's curve and the power law from run records (completed and diverged)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, tuple], list[Any]] = {}
    for r in recs:
        if r.status not in ("completed", "diverged") or not r.config or not r.params:
            continue
        groups.setdefault(_group_key(r), []).append(r)
    if not groups:
        raise TuningError(f"{source}: no completed runs to tune from")
    names = {}
    for name, setting in groups:
        names.setdefault(name, []).append(setting)
    shapes, draws, notes = [], {}, []
    ref = reference or {}
    for (name, setting), rs in sorted(groups.items(), key=lambda kv: kv[1][0].params["non_embedding"]):
        r0 = rs[0]
        opt, tr = r0.config.get("optim", {}), r0.config.get("train", {})
        key = name
        if len(names[name]) > 1:  # several curves of one shape: name what tells them apart
            key = f"{name} b{tr.get('batch_size')} beta2={opt.get('beta2')} D={r0.tokens:.3g}"
        n = float(r0.params["non_embedding"])
        rule = (ref["lr_ref"] * (n / N_REF) ** ref["lr_exp"]) if ref else None
        pts = [GridPoint(lr=float(r.config["optim"]["lr"]),
                         loss=float(r.val_loss) if r.status == "completed" and r.val_loss is not None else None,
                         run_id=r.run_id, multiplier=(float(r.config["optim"]["lr"]) / rule) if rule else None)
               for r in rs]
        pts.sort(key=lambda p: p.lr)
        if len({p.lr for p in pts if p.loss is not None}) < 2:
            notes.append(f"{key}: {len(pts)} run(s) at one rate: nothing to tune; left out")
            continue
        try:
            f = fit_shape(pts, noise=noise, n_boot=n_boot, rng=rng)
        except TuningError as e:
            raise TuningError(f"{source}: {key}: {e}") from None
        st = ShapeTuning(key=key, model=name, n=n, n_total=float(r0.params["total"]), tokens=float(r0.tokens),
                         batch_size=int(tr.get("batch_size") or 0), beta2=float(opt.get("beta2") or 0.0), points=pts,
                         lr_opt=float(f["lr_opt"]), lr_ci=f["lr_ci"], loss_opt=float(f["loss_opt"]),
                         curvature=f["curvature"], edge=f["edge"], fitted_on=f["fitted_on"], notes=f["notes"],
                         rule_lr=rule)
        if rule is not None:
            st.rule_penalty = st.penalty(rule)
        shapes.append(st)
        draws[key] = f["draws"]
    if not shapes:
        raise TuningError(f"{source}: no shape has runs at two or more rates")
    # With several curves per shape (a beta2 axis), the power law takes each shape's best curve.
    best: dict[str, ShapeTuning] = {}
    for s in shapes:
        if s.model not in best or s.loss_opt < best[s.model].loss_opt:
            best[s.model] = s
    law = fit_power_law(list(best.values()), draws)
    if law is None:
        notes.append("lr*(N) not fitted: fewer than two shapes have their optimum inside the grid")
    return TuningResult(source=source, shapes=shapes, law=law, reference=dict(ref), noise=noise, notes=notes)


def load_tuning_sweep(sweep_dir: str | Path) -> list[Any]:
    d = Path(sweep_dir)
    if not (d / "runs").is_dir():
        raise TuningError(f"{sweep_dir}: not a sweep folder (no runs/ inside)")
    recs, bad = records.scan_sweep(d, quarantine_corrupt=False)
    return recs


def extension(s: ShapeTuning, steps: int = 2) -> list[float]:
    """Rates to add beyond the grid's edge (x2 apart, continuing the grid's spacing when it has one)."""
    if s.edge is None:
        return []
    lrs = sorted(p.lr for p in s.points)
    ratio = (lrs[-1] / lrs[0]) ** (1 / (len(lrs) - 1)) if len(lrs) > 1 else 2.0
    if s.edge == "low":
        return [lrs[0] / ratio ** k for k in range(1, steps + 1)]
    return [lrs[-1] * ratio ** k for k in range(1, steps + 1)]
