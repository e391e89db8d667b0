"""Measured points: the ``Points`` every law fits, their subsets, and several inputs as one.

Every law in this package fits a ``Points``: one row per run (model size N, tokens D, compute C,
final loss), with optional training curves (approach 1), unique-token counts (data-constrained
fits) and a data-set label. The loaders of ``harness.fit.loaders`` build them from CSV files, run
records and open_lm result files, as strictly as ``Points.from_arrays`` checks numbers.

The data-set label lives in the field ``group`` (one readable label per point, or None when every
point is of one unnamed data set, e.g. a single CSV without a group column). ``group`` is what the
shared-exponent law fits one curve per, what ``--group-col`` fills from a CSV, and what
``datasets()``, ``by_dataset()`` and ``require_one_dataset()`` read (labels: harness/fit/datalabels.py).

Compute: C is in the convention named by ``flops_convention``; FLOPs per token, C/(N·D), vary with a
model's shape under every convention but 6ND, so ``flops_per_token(n)`` reads them off the points
(see there) and ``tokens_for``/``compute_for`` convert between D and C with them, never with 6.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from harness.errors import FitInputError
from harness.fit.datalabels import disambiguate


@dataclass
class Curve:
    """One run's training curve, for the lower envelope of approach 1."""

    run_id: str
    n: float
    tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray


@dataclass
class Points:
    n: np.ndarray
    d: np.ndarray
    c: np.ndarray
    loss: np.ndarray
    labels: list[str]
    group: list[str] | None = None  # the data-set label of each point (see the module docstring)
    unique_tokens: np.ndarray | None = None  # NaN where a run saw fresh data
    curves: list[Curve] | None = None
    source: str = ""
    param_convention: str = "total"
    flops_convention: str = "6ND"
    notes: list[str] = field(default_factory=list)
    # The loss no model can beat on this validation set, when it is known exactly (the synthetic
    # language's Bayes loss): the yardstick for a fitted E.
    floor: float | None = None
    # What each point's data set is (a data fingerprint) where known: two loads whose readable
    # labels coincide but whose data differ are told apart by it when they are concatenated.
    data_keys: list[str | None] | None = None
    # Each run's validation curve with its schedule (harness.fit.lrcurves.RunCurve), for laws of
    # the whole loss curve (annealing); filled by load_sweep only, and read by no other law.
    run_curves: list | None = None
    # Each point's relative weight in the laws that take weights (``Law.honours_weights``: approach 2's
    # parabolas, approach 3's Huber sum); None is 1 everywhere. Set by ``with_weights``, e.g. to
    # down-weight runs trained off their tuned learning rate (harness/tune/fitlink.py).
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("n", "d", "c", "loss"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=float))
        k = len(self.loss)
        if not (len(self.n) == len(self.d) == len(self.c) == k == len(self.labels)):
            raise FitInputError("points: N, D, C, loss and labels must have the same length")
        for name in ("group", "data_keys"):
            v = getattr(self, name)
            if v is not None and len(v) != k:
                raise FitInputError(f"points: {name} has {len(v)} entries for {k} points")
        if self.weight is not None:
            self.weight = np.asarray(self.weight, dtype=float)
            if len(self.weight) != k or not np.all(np.isfinite(self.weight) & (self.weight > 0)):
                raise FitInputError(f"points: weight must hold {k} finite positive numbers")

    def __len__(self) -> int:
        return len(self.loss)

    @classmethod
    def from_arrays(cls, n: Sequence[float] | np.ndarray, d: Sequence[float] | np.ndarray,
                    loss: Sequence[float] | np.ndarray, c: Sequence[float] | np.ndarray | None = None, *,
                    labels: Sequence[str] | None = None, group: Sequence[str] | None = None,
                    unique_tokens: Sequence[float] | np.ndarray | None = None, flops_convention: str = "6ND",
                    param_convention: str = "total", floor: float | None = None, source: str = "arrays") -> "Points":
        """Points for Python users, checked as strictly as a CSV (every value finite and positive).

        Without ``c``, C = 6ND (said so in the notes); with it, each point keeps its own C, so
        ``flops_per_token`` follows whatever count produced it.
        """
        n_a, d_a, l_a = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (n, d, loss))
        if not (len(n_a) == len(d_a) == len(l_a)):
            raise FitInputError(f"from_arrays: n, d and loss have {len(n_a)}, {len(d_a)} and {len(l_a)} values")
        if len(l_a) == 0:
            raise FitInputError("from_arrays: no points")
        notes = []
        if c is None:
            c_a = 6.0 * n_a * d_a
            notes.append("C = 6ND (no C given)")
            flops_convention = "6ND"
        else:
            c_a = np.atleast_1d(np.asarray(c, dtype=float))
            if len(c_a) != len(l_a):
                raise FitInputError(f"from_arrays: c has {len(c_a)} values for {len(l_a)} points")
        for name, arr in (("n", n_a), ("d", d_a), ("c", c_a), ("loss", l_a)):
            bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
            if len(bad):
                raise FitInputError(f"from_arrays: point {bad[0]}: {name} is {float(arr[bad[0]])!r}; it must be "
                                    "a finite positive number")
        labs = list(labels) if labels is not None else [f"point{i}" for i in range(len(l_a))]
        uniq = None if unique_tokens is None else np.asarray(unique_tokens, dtype=float)
        return cls(n=n_a, d=d_a, c=c_a, loss=l_a, labels=labs, group=None if group is None else list(group),
                   unique_tokens=uniq, source=source, param_convention=param_convention, flops_convention=flops_convention,
                   notes=notes, floor=floor)

    def subset(self, idx: Sequence[int] | np.ndarray) -> "Points":
        idx = np.asarray(idx, dtype=int)
        keep = set(self.labels[i] for i in idx)
        return Points(
            n=self.n[idx], d=self.d[idx], c=self.c[idx], loss=self.loss[idx],
            labels=[self.labels[i] for i in idx],
            group=None if self.group is None else [self.group[i] for i in idx],
            unique_tokens=None if self.unique_tokens is None else self.unique_tokens[idx],
            curves=None if self.curves is None else [cv for cv in self.curves if cv.run_id in keep],
            source=self.source, param_convention=self.param_convention, flops_convention=self.flops_convention,
            notes=list(self.notes), floor=self.floor,
            data_keys=None if self.data_keys is None else [self.data_keys[i] for i in idx],
            # concat prefixes labels with their source ("sweep:run_id"); a run curve keeps the bare id.
            run_curves=None if self.run_curves is None else [
                rc for rc in self.run_curves if rc.run_id in keep | {lab.rsplit(":", 1)[-1] for lab in keep}],
            weight=None if self.weight is None else self.weight[idx],
        )

    def with_weights(self, weights: dict[str, float], why: str) -> "Points":
        """These points with the weight of each point named in ``weights`` (by label) set to its value
        (the others keep theirs); ``why`` goes into the notes, so the headline says it."""
        unknown = sorted(set(weights) - set(self.labels))
        if unknown:
            raise FitInputError(f"weights name {len(unknown)} label(s) not among the points, e.g. {unknown[0]!r}")
        w = np.ones(len(self)) if self.weight is None else self.weight.copy()
        for i, lab in enumerate(self.labels):
            if lab in weights:
                w[i] = weights[lab]
        return replace(self, weight=w, notes=[*self.notes, why])

    def weighted(self) -> bool:
        """Whether any point weighs other than 1."""
        return self.weight is not None and not np.allclose(self.weight, 1.0)

    def drop_highest_loss(self, k: int) -> "Points":
        """Drop the k highest losses (the Epoch replication drops 5 outliers of Hoffmann's Fig. 4)."""
        if k <= 0:
            return self
        if k >= len(self):
            raise FitInputError(f"cannot drop {k} highest-loss points from {len(self)} points")
        keep = np.sort(np.argsort(self.loss, kind="stable")[:-k])
        out = self.subset(keep)
        out.notes.append(f"dropped the {k} highest-loss points")
        return out

    def select(self, patterns: Sequence[str]) -> "Points":
        """Only the points whose label (run id, open_lm run name, CSV row label) matches one of the
        shell-style patterns: a published design picks its runs by name. A pattern that matches
        nothing is an error, since a typo would otherwise silently shrink the fit."""
        if not patterns:
            return self
        unmatched = [pat for pat in patterns if not any(fnmatch.fnmatchcase(lab, pat) for lab in self.labels)]
        if unmatched:
            raise FitInputError(f"--runs {', '.join(unmatched)}: no point of {self.source or 'the input'} "
                                f"has a matching label (labels look like {self.labels[0]!r})")
        keep = [i for i, lab in enumerate(self.labels) if any(fnmatch.fnmatchcase(lab, pat) for pat in patterns)]
        out = self.subset(keep)
        out.notes.append(f"kept the {len(keep)} of {len(self)} points named by --runs {','.join(patterns)}")
        return out

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group)) if self.group else []

    # --- data sets ---------------------------------------------------------------------------

    def datasets(self) -> list[str]:
        """Distinct data-set labels, in the order they first appear (one label when unlabelled)."""
        if self.group is None:
            return [_unnamed_label(self.source)]
        return list(dict.fromkeys(self.group))

    def by_dataset(self) -> dict[str, "Points"]:
        """One ``Points`` per data set, keyed by its label, in ``datasets()`` order."""
        if self.group is None:
            return {_unnamed_label(self.source): self}
        out = {}
        for label in self.datasets():
            part = self.subset([i for i, g in enumerate(self.group) if g == label])
            part.notes.append(f"data set {label}")
            out[label] = part
        return out

    def require_one_dataset(self, what: str) -> None:
        """Refuse to pool data sets in a fit that assumes one (one law, one E, one set of exponents)."""
        labels = self.datasets()
        if len(labels) > 1:
            shown = " and ".join(labels) if len(labels) == 2 else ", ".join(labels)
            raise FitInputError(f"{what}: the points come from {len(labels)} data sets ({shown}); "
                                "fit each with --by-data, or jointly with --law shared")

    # --- compute and tokens --------------------------------------------------------------------

    def flops_per_token(self, n: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """C/(N·D) at model size ``n``, in this set's C and N conventions.

        Under 6ND with total N it is 6 exactly. Under the other counts (kaplan, chinchilla,
        6ND_nonemb with another N) each run's own C/(N·D) depends on its shape (attention and
        embedding terms do not scale with N), so it is read off the points: averaged over runs of
        one N, linear in log N between sizes and flat beyond the smallest and largest, where no
        run says how the shape would change. Every (N, D, C) the fitter reports is then in the
        same convention as the points it was fitted to.
        """
        x = np.asarray(n, dtype=float)
        ratio = self.c / (self.n * self.d)
        sizes, inverse = np.unique(self.n, return_inverse=True)
        mean = np.bincount(inverse, weights=ratio) / np.bincount(inverse)
        if len(sizes) == 1:
            return np.full_like(x, mean[0])
        return np.interp(np.log(x), np.log(sizes), mean)

    def tokens_for(self, c: float | np.ndarray, n: float | np.ndarray) -> np.ndarray:
        """Tokens D that a budget ``c`` buys a model of size ``n`` (same conventions as the points)."""
        n_a = np.asarray(n, dtype=float)
        return np.asarray(c, dtype=float) / (self.flops_per_token(n_a) * n_a)

    def compute_for(self, n: float | np.ndarray, d: float | np.ndarray) -> np.ndarray:
        """Compute C of training a model of size ``n`` on ``d`` tokens (same conventions as the points)."""
        n_a = np.asarray(n, dtype=float)
        return self.flops_per_token(n_a) * n_a * np.asarray(d, dtype=float)


def _unnamed_label(source: str) -> str:
    # concat joins sources with " + ": name every file, not only the last.
    return " + ".join(Path(s).name for s in source.split(" + ")) if source else "points"


def common_floor(floors: Iterable[float | None]) -> float | None:
    """One floor only when every point was scored against the same exactly-known validation set."""
    distinct = set(floors)
    return distinct.pop() if len(distinct) == 1 else None


def concat(parts: Sequence[Points]) -> Points:
    """Several inputs as one set of points.

    Data-set labels: inputs that name none (a CSV without a group column) are one unnamed data set
    when nothing else is named; next to named inputs each is labelled by its file name, since
    nothing says it holds the same data; a CSV's group column names its data set, and a name equal
    to a sweep's label joins that sweep's points. Labels that coincide for different data (two
    sweeps of "synthetic (seed 1234)" with different languages) get a fingerprint prefix. FLOPs per token
    come from each point's own C, so mixed shapes keep their own ratios.
    """
    if len(parts) == 1:
        return parts[0]
    if any(p.group is not None for p in parts):
        base = [g for p in parts for g in (p.group or [_unnamed_label(p.source)] * len(p))]
        keys = [k for p in parts for k in (p.data_keys or [None] * len(p))]
        group: list[str] | None = disambiguate(base, keys)
        # A written label keeps no key: it stays free to match a fingerprinted one in a later concat.
        data_keys: list[str] | None = keys  # type: ignore[assignment]
    else:
        group, data_keys = None, None
    uniq = None
    if any(p.unique_tokens is not None for p in parts):
        uniq = np.concatenate([p.unique_tokens if p.unique_tokens is not None else np.full(len(p), np.nan) for p in parts])
    curves = [cv for p in parts for cv in (p.curves or [])]
    run_curves = [rc for p in parts for rc in (p.run_curves or [])]
    notes = [n for p in parts for n in p.notes]
    weight = None
    if any(p.weight is not None for p in parts):
        weight = np.concatenate([p.weight if p.weight is not None else np.ones(len(p)) for p in parts])
    conventions = list(dict.fromkeys(p.flops_convention for p in parts))
    if len(conventions) > 1:
        notes.append(f"inputs count C differently ({', '.join(conventions)}); each point keeps its own C")
    return Points(
        n=np.concatenate([p.n for p in parts]), d=np.concatenate([p.d for p in parts]),
        c=np.concatenate([p.c for p in parts]), loss=np.concatenate([p.loss for p in parts]),
        labels=[f"{Path(p.source).name}:{lab}" for p in parts for lab in p.labels],
        group=group, data_keys=data_keys, unique_tokens=uniq, curves=curves or None,
        source=" + ".join(p.source for p in parts), param_convention=parts[0].param_convention,
        flops_convention=parts[0].flops_convention, notes=notes,
        floor=common_floor(p.floor for p in parts), run_curves=run_curves or None, weight=weight,
    )
