"""IsoFLOP designs: for each compute budget, the dense ladder's shapes around a predicted optimum.

A preset states budgets and a rule (``sweep.design``, typed by ``harness.config.DesignConfig``),
not one list of shapes for all budgets: for each budget C, the prior predicts N_opt(C) and the
design takes every shape of the dense ladder (harness/shapes/ladder.py, about x1.58 apart in N)
covering [N_opt / span, N_opt * span] (those inside and the nearest beyond each end). So each
budget's minimum is bracketed by construction, as far as the prior is right.

How it runs: Hydra's basic sweeper stays the launcher. The design becomes one swept key,
``sweep.design.point``, whose values are (budget, shape) pairs written ``<C>@<dense shape>``
(``1e15@dense_14``); the resolver ``${design.points:...}`` writes that list into
``hydra.sweeper.params`` and ``${design.flops:...}`` / ``${design.shape:...}`` set train.flops and
model.* of each job (conf/sweep/design/isoflop.yaml holds the wiring, a preset only states
``sweep.design``). harness/sweep/expand.py resolves the same params, so harness-plan lists exactly
the jobs a launch makes. ``sweep.*`` and ``model.name`` are outside the run id: a run is identified
by its shape and budget, as any other run.

Public API (pure: json, math, harness.flops and the ladder rule; no torch, no Hydra):

``Prior(c_ref, n_ref, a, flops_convention, param_convention, source)``
    N_opt(C) = n_ref * (C / c_ref) ** a; ``.n_opt(c)``, ``.tokens_per_param(c)`` (= D_opt/N_opt).
``chinchilla_prior(tokens_per_param=20, flops_convention="6ND")``
    a constant D/N at the optimum (a = 1/2), Hoffmann et al.'s 20 tokens per parameter.
``prior_from_fit(path_or_dict, law="approach2")``
    the allocation a committed fit.json states for one law (n_opt at its reference budget and a).
``prior_of(spec)`` / ``priors_of(design)``
    the prior a ``PriorConfig`` (or its dict) states / every prior of a ``DesignConfig``.
``shape_counts(rung, arch, vocab_size, seq_len, tied=True)``
    a dense or named rung's ``harness.flops.ParamCounts`` for a data set.
``shapes_around(n_opt, span, n_of)``
    the dense shapes covering [n_opt / span, n_opt * span] (n_of: rung -> N): those inside and the
    nearest one at or beyond each end, so a design reaches a factor span on both sides.
``design_points(budgets, priors, span, n_of)``
    ``Point(budget, rung, n, n_opts)`` for every budget: the dense shapes from the smallest
    prior's N_opt / span to the largest's N_opt * span, ascending.
``points_of(design, arch, vocab_size, seq_len, tied, flops_convention)``
    the points of a preset's ``sweep.design`` for its data (total N depends on the vocabulary).
``bracketed(n_opt, ns, margin=2)``
    whether sizes ns reach from n_opt / margin or below to n_opt * margin or above.
``point_label(c, name)`` / ``parse_point(label)``
    ``1e15@dense_14`` <-> (1e15, "dense_14").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from harness.config import ModelConfig, PriorConfig
from harness.errors import DesignError
from harness.flops import param_counts
from harness.shapes.ladder import DENSE, Rung, by_name, dense_by_name


@dataclass(frozen=True)
class Prior:
    c_ref: float  # a reference budget (FLOPs in `flops_convention`)
    n_ref: float  # the predicted N_opt at c_ref (parameters in `param_convention`)
    a: float  # N_opt grows as C ** a
    flops_convention: str = "6ND"  # the FLOP convention of C
    param_convention: str = "total"  # which N: total | non_embedding
    source: str = ""  # where the numbers come from, for the plan's header

    def n_opt(self, c: float) -> float:
        return self.n_ref * (c / self.c_ref) ** self.a

    def tokens_per_param(self, c: float) -> float:
        """D_opt / N_opt at c, with C = 6 N D (the convention of every prior here)."""
        n = self.n_opt(c)
        return c / (6.0 * n) / n


def chinchilla_prior(tokens_per_param: float = 20.0, flops_convention: str = "6ND") -> Prior:
    """D_opt = tokens_per_param * N_opt, so C = 6 tpp N^2 and N_opt = sqrt(C / (6 tpp))."""
    c_ref = 1e18
    return Prior(c_ref, math.sqrt(c_ref / (6.0 * tokens_per_param)), 0.5, flops_convention, "total",
                 f"Chinchilla's {tokens_per_param:g} tokens per parameter")


def prior_from_fit(fit: str | Path | Mapping[str, Any], law: str = "approach2") -> Prior:
    """The allocation of one law in a fit.json (a path or its parsed dict): the law's predicted
    n_opt at its reference budget and its exponent a. Raises DesignError when it has none."""
    label = str(fit) if not isinstance(fit, Mapping) else str(fit.get("source", "fit.json"))
    if not isinstance(fit, Mapping):
        try:
            fit = json.loads(Path(fit).read_text())
        except (OSError, ValueError) as e:
            raise DesignError(f"sweep.design.priors.fit_file: cannot read {label}: {e}") from None
    for entry in fit.get("laws", []):
        if entry.get("law") != law:
            continue
        alloc = entry.get("allocation") or {}
        n_opt = alloc.get("n_opt") or {}
        if not n_opt or alloc.get("a") is None:
            break
        c_key = max(n_opt, key=float)
        return Prior(float(c_key), float(n_opt[c_key]), float(alloc["a"]),
                     entry.get("c_convention") or fit.get("c_convention", "6ND"),
                     fit.get("n_convention", "total"), f"{label} ({law})")
    raise DesignError(f"sweep.design.priors.law: {label} has no allocation for law {law!r}")


def prior_of(spec: Any) -> Prior:
    """The prior one ``PriorConfig`` (or a dict of its fields) states."""
    get = spec.get if isinstance(spec, Mapping) else (lambda k, d=None: getattr(spec, k, d))
    kind = get("kind", "chinchilla")
    if kind == "chinchilla":
        return chinchilla_prior(float(get("tokens_per_param", 20.0)), PriorConfig.read_renamed(spec, "flops_convention"))
    if kind == "fit":
        if get("fit_file"):
            return prior_from_fit(get("fit_file"), get("law", "approach2"))
        need = {k: get(k) for k in ("c", "n_opt", "a")}
        missing = [k for k, v in need.items() if v is None]
        if missing:
            raise DesignError(f"sweep.design.priors.{missing[0]}: kind=fit needs fit_file, or c, n_opt and a")
        return Prior(float(need["c"]), float(need["n_opt"]), float(need["a"]),
                     PriorConfig.read_renamed(spec, "flops_convention"),
                     PriorConfig.read_renamed(spec, "param_convention"),
                     get("source", "") or "")
    raise DesignError(f"sweep.design.priors.kind: {kind!r} is not one of chinchilla, fit")


def priors_of(design: Any) -> list[Prior]:
    """The priors of a DesignConfig (or its dict); at least one."""
    specs = design.get("priors") if isinstance(design, Mapping) else getattr(design, "priors", None)
    specs = list(specs or [{}])
    return [prior_of(s) for s in specs]


def rung_of(name: str) -> Rung:
    """A dense (dense_NN) or named (ladder_xx) rung by name."""
    try:
        return dense_by_name(name) if name.startswith("dense_") else by_name(name)
    except KeyError as e:
        raise DesignError(f"sweep.design.point: {e.args[0]}") from None


def shape_counts(r: Rung, arch: str, vocab_size: int, seq_len: int, tied: bool = True):
    """The rung's parameter counts (harness.flops.ParamCounts) for a data set's vocabulary and context."""
    model = ModelConfig(arch=arch, n_layer=r.n_layer, d_model=r.d_model, n_head=r.n_head, tie_embeddings=tied)
    return param_counts(model.shape(vocab_size, seq_len))


def shapes_around(n_opt: float, span: float, n_of: Callable[[Rung], float],
                  ladder: Sequence[Rung] = DENSE) -> list[Rung]:
    """The ladder's shapes covering [n_opt / span, n_opt * span] (by N = n_of(rung)), ascending:
    every shape inside, plus the nearest one at or beyond each end, so the ends are reached
    whatever the ladder's spacing (as far as the ladder goes)."""
    return _cover(n_opt / span, n_opt * span, n_of, ladder)


def _cover(lo: float, hi: float, n_of: Callable[[Rung], float], ladder: Sequence[Rung] = DENSE) -> list[Rung]:
    ns = [n_of(r) for r in ladder]
    first = max([i for i, n in enumerate(ns) if n <= lo], default=0)
    last = min([i for i, n in enumerate(ns) if n >= hi], default=len(ns) - 1)
    return list(ladder[first:last + 1])


@dataclass(frozen=True)
class Point:
    budget: float  # C, in the priors' convention
    rung: Rung  # the shape
    n: float  # its N (the priors' convention)
    n_opts: tuple[float, ...]  # each prior's N_opt at this budget

    @property
    def label(self) -> str:
        return point_label(self.budget, self.rung.name)


def design_points(budgets: Iterable[float], priors: Prior | Sequence[Prior], span: float,
                  n_of: Callable[[Rung], float]) -> list[Point]:
    """For each budget (in order), the dense shapes covering min(N_opt) / span .. max(N_opt) * span
    over the priors (see shapes_around), ascending."""
    if span <= 1:
        raise DesignError(f"sweep.design.span: must be above 1, got {span:g}")
    priors = [priors] if isinstance(priors, Prior) else list(priors)
    out = []
    for c in budgets:
        n_opts = tuple(p.n_opt(float(c)) for p in priors)
        lo, hi = min(n_opts) / span, max(n_opts) * span
        out += [Point(float(c), r, n_of(r), n_opts) for r in _cover(lo, hi, n_of)]
    return out


def bracketed(n_opt: float, ns: Iterable[float], margin: float = 2.0) -> bool:
    """True when the sizes reach a factor ``margin`` below and above n_opt (so a minimum within
    that factor of the prediction still has shapes on both sides)."""
    ns = list(ns)
    return bool(ns) and min(ns) <= n_opt / margin and max(ns) >= n_opt * margin


def fmt_budget(c: float) -> str:
    """1e15, 3e15, 1.5e16: short, and parseable back to the same float."""
    mant, exp = f"{c:.4g}".split("e") if "e" in f"{c:.4g}" else (f"{c:.4g}", "0")
    return f"{mant}e{int(exp)}"


def point_label(c: float, name: str) -> str:
    return f"{fmt_budget(c)}@{name}"


def parse_budgets(label: Any) -> tuple[list[float], str]:
    """A point's budgets, ascending, and its shape: "<C>@<shape>", or with cooldown branches
    "<C1>+<C2>+...@<shape>" (one wsd trunk to the largest C, a branch at each other)."""
    if label is None:
        raise DesignError("sweep.design.point: unset; a design preset runs as a multirun "
                          "(harness-train -m sweep=..., harness-plan sweep=...)")
    cs, sep, name = str(label).partition("@")
    try:
        return sorted(float(c) for c in cs.split("+")), name if sep else ""
    except ValueError:
        raise DesignError(f"sweep.design.point: {label!r} is not <budget>[+<budget>...]@<shape>") from None


def parse_point(label: Any) -> tuple[float, str]:
    """The budget a point's run trains to (the largest, for a trunk) and its shape."""
    budgets, name = parse_budgets(label)
    return budgets[-1], name


def trunk_labels(points: Sequence[Point]) -> list[str]:
    """The design as wsd trunks: one point per shape, "<C1>+<C2>+...@<shape>", the shapes in the
    order they first appear. Each trunk trains to its largest budget and forks a cooldown branch
    at every other (harness/run/branches.py), whose records are those of the design's runs."""
    by_shape: dict[str, list[float]] = {}
    for p in points:
        by_shape.setdefault(p.rung.name, []).append(p.budget)
    # Longest trunks first, so parallel workers finish together.
    order = sorted(by_shape, key=lambda name: -max(by_shape[name]) * next(
        p.n for p in points if p.rung.name == name))
    return ["+".join(fmt_budget(c) for c in sorted(set(by_shape[name]))) + f"@{name}" for name in order]


# --- Hydra side: the resolvers conf/sweep/design/isoflop.yaml calls ---------------------------


def points_of(design: Any, arch: str, vocab_size: int, seq_len: int, tied: bool,
              flops_convention: str) -> list[Point]:
    """The design a preset states, for its data (vocabulary and context fix total N)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(design, DictConfig):
        design = OmegaConf.to_container(design, resolve=True)
    priors = priors_of(design)
    conv = {p.flops_convention for p in priors}
    nconv = {p.param_convention for p in priors}
    if conv != {flops_convention}:
        raise DesignError(f"train.flops_convention: the design's priors count C as {', '.join(sorted(conv))}, "
                          f"not {flops_convention}")
    if len(nconv) != 1:
        raise DesignError("sweep.design.priors.param_convention: the priors predict different N (total and non_embedding)")
    budgets = list(design.get("budgets") or [])
    if not budgets:
        raise DesignError("sweep.design.budgets: a design needs at least one budget")
    key = "total" if nconv == {"total"} else "non_embedding"

    def n_of(r: Rung) -> float:
        return getattr(shape_counts(r, arch, vocab_size, seq_len, tied), key)

    return design_points(budgets, priors, float(design.get("span", 3.0)), n_of)


# Hydra resolves hydra.sweeper.params while it builds its sweeper, where an exception becomes a
# traceback; so during a launch a bad design is one line on stderr and exit 2 (the project's rule
# for bad config). The planner (harness/sweep/expand.py) sets this False and gets DesignError.
EXIT_ON_ERROR = True


def points_resolver(design, arch, vocab_size, seq_len, tied, conv, schedule="cosine") -> str:
    try:
        pts = points_of(design, str(arch), int(vocab_size), int(seq_len), str(tied).lower() == "true", str(conv))
        if str(schedule) == "wsd":
            return ",".join(trunk_labels(pts))
    except DesignError as e:
        if not EXIT_ON_ERROR:
            raise
        import sys

        print(f"harness-train: invalid config: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return ",".join(p.label for p in pts)


def shape_resolver(label, key) -> Any:
    _, name = parse_point(label)
    r = rung_of(name)
    return r.name if key == "name" else getattr(r, str(key))
