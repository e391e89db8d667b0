"""Measured points: load them from CSV, run records or open_lm result files, and validate them.

Every law in this package fits a ``Points``: one row per run (model size N, tokens D, compute C,
final loss), with optional training curves (approach 1), unique-token counts (data-constrained
fits) and a data-set label. Loading is strict: a value that is missing, non-numeric, non-finite
or non-positive is an error naming its row, because a silently dropped or zero row bends a
log-log fit without anyone noticing. A record file that cannot be read at all is skipped with a
note instead: it holds no row to bend anything, and one bad file must not stop a whole sweep's fit.

The data-set label lives in the field ``group`` (one readable label per point, or None when every
point is of one unnamed data set, e.g. a single CSV without a group column). ``group`` is what the
shared-exponent law fits one curve per, what ``--group-col`` fills from a CSV, and what
``datasets()``, ``by_dataset()`` and ``require_one_dataset()`` read. Run records are labelled by
their data fingerprint (the identity of the tokens), never by settings that leave the data as it
is: a sweep over ``data.seq_len`` on one text corpus is one data set.

Compute: C is in the convention named by ``c_convention``; FLOPs per token, C/(N·D), vary with a
model's shape under every convention but 6ND, so ``flops_per_token(n)`` reads them off the points
(see there) and ``tokens_for``/``compute_for`` convert between D and C with them, never with 6.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from harness.errors import FitInputError, RecordError
from harness.fit.lrcurves import run_curve
from harness.flops import CONVENTIONS as FLOP_CHOICES
from harness.flops import PARAM_CONVENTIONS as PARAM_CHOICES
from harness.records import scan_sweep


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
    n_convention: str = "total"
    c_convention: str = "6ND"
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
                    unique_tokens: Sequence[float] | np.ndarray | None = None, c_convention: str = "6ND",
                    n_convention: str = "total", floor: float | None = None, source: str = "arrays") -> "Points":
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
            c_convention = "6ND"
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
                   unique_tokens=uniq, source=source, n_convention=n_convention, c_convention=c_convention,
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
            source=self.source, n_convention=self.n_convention, c_convention=self.c_convention,
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


def _positive(value: object, what: str, where: str) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise FitInputError(f"{where}: {what} is missing")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FitInputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise FitInputError(f"{where}: {what} is {value!r}, not a finite number")
    if x <= 0:
        raise FitInputError(f"{where}: {what} is {value!r}; it must be positive")
    return x


def load_csv(path: str | Path, n_col: str = "N", d_col: str = "D", c_col: str = "C",
             loss_col: str = "loss", group_col: str | None = None,
             unique_col: str | None = None) -> Points:
    """Points from a CSV with columns N, loss and D and/or C.

    With both D and C each row keeps its own C (whatever count produced it); with D alone C = 6ND;
    with C alone D = C/(6N). The last two are said in the notes.
    """
    path = Path(path)
    if not path.is_file():
        raise FitInputError(f"{path}: no such file")
    try:
        # utf-8-sig: a spreadsheet's byte-order mark would otherwise become part of the first
        # column's name, and "N" would be reported missing though it is there.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FitInputError(f"{path}: not a text CSV file") from None
    if not text.strip():
        raise FitInputError(f"{path}: the file is empty")
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in (n_col, loss_col) if c not in header]
    has_d, has_c = d_col in header, c_col in header
    if not (has_d or has_c):
        missing.append(f"{d_col} or {c_col}")
    for opt in (group_col, unique_col):
        if opt and opt not in header:
            missing.append(opt)
    if missing:
        raise FitInputError(f"{path}: missing column(s) {', '.join(missing)} "
                            f"(columns are: {', '.join(header) or 'none'}); "
                            "map other names with --n-col/--d-col/--c-col/--loss-col")
    n, d, c, loss, labels, group, uniq = [], [], [], [], [], [], []
    for i, row in enumerate(reader, start=1):
        where = f"{path}: row {i} (line {i + 1})"
        if None in row:
            raise FitInputError(f"{where}: more fields than the header has columns")
        ni = _positive(row.get(n_col), n_col, where)
        li = _positive(row.get(loss_col), loss_col, where)
        if has_d:
            di = _positive(row.get(d_col), d_col, where)
            ci = _positive(row[c_col], c_col, where) if has_c else 6.0 * ni * di
        else:
            ci = _positive(row.get(c_col), c_col, where)
            di = ci / (6.0 * ni)
        n.append(ni); d.append(di); c.append(ci); loss.append(li)
        labels.append(f"row{i}")
        if group_col:
            g = (row.get(group_col) or "").strip()
            if not g:
                raise FitInputError(f"{where}: {group_col} is missing")
            group.append(g)
        if unique_col:
            u = row.get(unique_col)
            uniq.append(math.nan if u is None or u.strip() == "" else _positive(u, unique_col, where))
    if not loss:
        raise FitInputError(f"{path}: the file has a header but no rows")
    # Only the derived D is a note: a given C, or C = 6ND from N and D, is what c_convention says.
    notes = [] if has_d else [f"D derived as C/(6N) from column {c_col}"]
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, group=group or None,
                  unique_tokens=np.array(uniq) if unique_col else None, source=str(path),
                  n_convention=n_col, c_convention=c_col if has_c else "6ND", notes=notes)


def _num(x: object) -> float:
    """A sort key that never fails: what is not a finite number sorts last (and is refused later)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def load_sweep(sweep_dir: str | Path, params: str = "total", flops: str = "6ND",
               use_curves: bool = True) -> Points:
    """Points from a sweep directory's run records (completed runs only; the rest are counted).

    A record file that cannot be read (truncated, not JSON, missing keys) is skipped with a note
    naming it; what a readable completed record says is checked as strictly as a CSV row.
    """
    # Imported here so that CSV-only use never touches the records module's IO.
    if params not in PARAM_CHOICES:
        raise FitInputError(f"--params must be one of {', '.join(PARAM_CHOICES)}, not {params!r}")
    if flops not in FLOP_CHOICES:
        raise FitInputError(f"--flops must be one of {', '.join(FLOP_CHOICES)}, not {flops!r}")
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FitInputError(f"{sweep_dir}: no such directory")
    try:
        # The fitter only looks: unreadable files stay where they are (the sweep moves them aside).
        records, bad = scan_sweep(sweep_dir, quarantine_corrupt=False)
    except RecordError as e:
        raise FitInputError(str(e)) from None
    unreadable = [f"skipped {path}: {reason}" for path, reason in bad]
    if not records:
        extra = f" ({len(unreadable)} unreadable: {unreadable[0]})" if unreadable else ""
        raise FitInputError(f"{sweep_dir}: no readable run records in {sweep_dir / 'runs'}{extra}")
    done = [r for r in records if r.status == "completed"]
    skipped = len(records) - len(done)
    if not done:
        raise FitInputError(f"{sweep_dir}: none of the {len(records)} runs completed, nothing to fit")
    # Points in an order fixed by what the runs measured, not by their file names: the bootstrap
    # draws resamples by position, so the same runs under other run ids (a migrated identity, a
    # copied record) must give the same intervals.
    done.sort(key=lambda r: (_num(r.flops.get(flops)), _num(r.params.get(params)), _num(r.tokens),
                             _num(r.val_loss), r.run_id))
    n, d, c, loss, labels, keys, base, uniq = [], [], [], [], [], [], [], []
    curves: list[tuple[str, object, Curve]] = []  # (data key, evaluation set, curve)
    run_curves = []
    for r in done:
        where = f"{sweep_dir}: run {r.run_id}"
        ni = _positive(r.params.get(params), f"params.{params}", where)
        di = _positive(r.tokens, "tokens", where)
        ci = _positive(r.flops.get(flops), f"flops.{flops}", where)
        li = _positive(r.val_loss, "val_loss", where)
        n.append(ni); d.append(di); c.append(ci); loss.append(li); labels.append(r.run_id)
        data_cfg = r.config.get("data") if isinstance(r.config, dict) else None
        key = r.data_fingerprint or "config:" + json.dumps(data_cfg, sort_keys=True, default=str)
        keys.append(key)
        base.append(data_label(data_cfg))
        uniq.append(float(r.unique_tokens) if r.unique_tokens else math.nan)
        if use_curves:
            cv = _comparable_curve(r, ni, flops)
            if cv is not None:
                curves.append((key, cv[0], cv[1]))
            rc = run_curve(r, ni, flops, key, _intermediate_eval_subset(r.config) is not None)
            if rc is not None:
                run_curves.append(rc)
    notes = [f"{skipped} run(s) not completed were skipped"] if skipped else []
    notes += unreadable
    kept_curves, curve_notes = _one_eval_set_per_dataset(curves)
    notes += curve_notes
    return Points(n=n, d=d, c=c, loss=loss, labels=labels, floor=_common_floor(r.bayes_loss for r in done),
                  group=disambiguate(base, keys), data_keys=keys,
                  unique_tokens=np.array(uniq) if np.isfinite(uniq).any() else None,
                  curves=kept_curves or None, source=str(sweep_dir), n_convention=params,
                  c_convention=flops, notes=notes, run_curves=run_curves or None)


def _intermediate_eval_subset(config: object) -> tuple[int, int | None] | None:
    """(sequences, of how many) when intermediate evaluations used only part of the validation set.

    harness/run/train.py scores intermediate evaluations on the first ``train.eval_sequences``
    sequences (0 = all) and the final one on every ``data.val_sequences`` sequence.
    """
    if not isinstance(config, dict):
        return None
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    k, total = train.get("eval_sequences") or 0, data.get("val_sequences")
    if isinstance(k, int) and k > 0 and (not isinstance(total, int) or k < total):
        return k, total if isinstance(total, int) else None
    return None


def _comparable_curve(r: object, n: float, flops: str) -> tuple[object, Curve] | None:
    """A run's curve for approach 1, every point evaluated on the same validation sequences.

    When intermediate evaluations used a subset of the validation set, the run's final point (on
    the whole set) is left out of the curve: a different set shifts the loss (on the synthetic
    demo the subset's Bayes loss is 1.2219 against 1.2136 for the whole set, and the trained
    models' gap is larger still), which would make every run's last point look like a sudden drop
    and pull the envelope to it. Dropping the intermediate points instead would leave one point
    per run, too coarse an envelope for approach 1; the curve's own points are all comparable.
    """
    subset = _intermediate_eval_subset(getattr(r, "config", None))
    pts = [p for p in r.curve if p.val_loss is not None and p.tokens > 0 and p.flops.get(flops)]  # type: ignore[attr-defined]
    if subset is not None:
        pts = [p for p in pts if p.step < r.steps]  # type: ignore[attr-defined]
    if not pts:
        return None
    return subset or "all", Curve(run_id=r.run_id, n=n,  # type: ignore[attr-defined]
                                  tokens=np.array([p.tokens for p in pts], dtype=float),
                                  flops=np.array([p.flops[flops] for p in pts], dtype=float),
                                  loss=np.array([p.val_loss for p in pts], dtype=float))


def _one_eval_set_per_dataset(curves: list[tuple[str, object, Curve]]) -> tuple[list[Curve], list[str]]:
    """Keep the curves only where every run of a data set was evaluated on the same sequences."""
    notes = []
    by_key: dict[str, set] = {}
    for key, ev, _ in curves:
        by_key.setdefault(key, set()).add(ev)
    mixed = {k for k, evs in by_key.items() if len(evs) > 1}
    if mixed:
        notes.append("training curves not used for approach 1: runs of one data set evaluated their curves "
                     "on different validation subsets (train.eval_sequences differs)")
    subsets = sorted({ev for k, evs in by_key.items() if k not in mixed for ev in evs if ev != "all"},
                     key=lambda ev: ev[0])
    for k_seq, total in subsets:
        of = f" of {total}" if total else ""
        notes.append(f"approach 1 curves: intermediate evaluations used the first {k_seq}{of} validation "
                     "sequences and the final one all of them, so each run's final point is left out of its "
                     f"curve (curve losses are on the {k_seq}-sequence subset)")
    return [cv for key, _, cv in curves if key not in mixed], notes


def _common_floor(floors: Iterable[float | None]) -> float | None:
    """One floor only when every point was scored against the same exactly-known validation set."""
    distinct = set(floors)
    return distinct.pop() if len(distinct) == 1 else None


# Endings that say how a file is stored, not what corpus it holds: "eltec_eng.jsonl.gz" is eltec_eng.
_STORAGE_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".jsonl", ".json", ".parquet")


def _corpus_name(path: str) -> str:
    name = Path(str(path)).name
    stripped = True
    while stripped:
        stripped = False
        for suffix in _STORAGE_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name


def data_label(data_cfg: object) -> str:
    """A readable name for the data a run trained on, from its config's ``data`` section.

    Synthetic data: "synthetic (seed 1234)". Text: "text: " and the local files' names, or the hub
    dataset's path (and config name). Settings that also define the data (vocabulary, split) are
    not spelled out; ``disambiguate`` adds a fingerprint prefix where two data sets would share a label.
    """
    if not isinstance(data_cfg, dict):
        return "data" if data_cfg is None else str(data_cfg)
    kind = data_cfg.get("kind")
    if kind == "synthetic":
        seed = data_cfg.get("seed")
        return "synthetic" + (f" (seed {seed})" if seed is not None else "")
    if kind == "text":
        paths = data_cfg.get("paths") or []
        if paths:
            names = [_corpus_name(p) for p in paths]
            shown = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
            return f"text: {shown}"
        hub = data_cfg.get("hub_path")
        if hub:
            name = data_cfg.get("hub_name")
            return f"text: {hub}" + (f" ({name})" if name else "")
        return "text"
    for key in ("name", "dataset", "source", "path"):
        if isinstance(data_cfg.get(key), str):
            return data_cfg[key]
    return str(kind) if kind else "data"


def _short(key: str, width: int) -> str:
    return (key[len("synthetic-"):] if key.startswith("synthetic-") else key)[:width]


def disambiguate(labels: Sequence[str], keys: Sequence[str | None]) -> list[str]:
    """Labels made unique per key: a label shared by different keys gets a short key prefix.

    A key of None is a label someone wrote (a CSV's group column) with no fingerprint behind it:
    it is taken at its word, so "synthetic (seed 1234)" in a CSV joins the sweep of that label.
    """
    keys_of: dict[str, list[str]] = {}
    for lab, key in zip(labels, keys):
        keys_of.setdefault(lab, [])
        if key is not None and key not in keys_of[lab]:
            keys_of[lab].append(key)
    rename: dict[tuple[str, str], str] = {}
    for lab, ks in keys_of.items():
        if len(ks) < 2:
            continue
        width = 8
        while len({_short(k, width) for k in ks}) < len(ks) and width < max(len(k) for k in ks):
            width += 4
        for k in ks:
            rename[(lab, k)] = f"{lab} [{_short(k, width)}]"
    return [rename.get((lab, key), lab) if key is not None else lab for lab, key in zip(labels, keys)]


OPENLM_VAL_SETS = ("openlm", "c4_val", "paloma_c4_en", "paloma_falcon-refinedweb", "paloma_redpajama")


def load_openlm(folder: str | Path, val_set: str = "c4_val", train_set: str | Sequence[str] | None = None) -> Points:
    """Points from open_lm result files (Gadre et al. 2024, ``models/*.json``).

    N is ``hyperparameters.params`` (with embeddings), D is ``hyperparameters.tokens`` and the
    loss is the one evaluated on ``val_set`` (default C4 validation, the set Gadre et al. fit
    their laws to), so every run is scored on the same data. Each point's data-set label is the
    training set (``dataset_name``; the shared runs hold c4_original, rpj and rw_original); with
    ``train_set`` only runs trained on that set (or those sets) are kept.
    """
    folder = Path(folder)
    files = sorted((folder / "models").glob("*.json")) if (folder / "models").is_dir() else sorted(folder.glob("*.json"))
    if not files:
        raise FitInputError(f"{folder}: no open_lm result files (models/*.json)")
    wanted = None if train_set is None else ({train_set} if isinstance(train_set, str) else set(train_set))
    n, d, loss, labels, group, seen = [], [], [], [], [], []
    for f in files:
        where = f"{f}"
        try:
            obj = json.loads(f.read_text())
            hp = obj["hyperparameters"]
            results = obj["results"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FitInputError(f"{where}: not an open_lm result file ({e})") from None
        ds = str(obj.get("dataset_name", "?"))
        seen.append(ds)
        if wanted is not None and ds not in wanted:
            continue
        match = [r for r in results if any(f"/{val_set}/" in v for v in r.get("val_data", []))]
        if len(match) != 1:
            raise FitInputError(f"{where}: expected one result on validation set {val_set!r}, found {len(match)}")
        ni = _positive(hp.get("params"), "params", where)
        di = _positive(hp.get("tokens"), "tokens", where)
        n.append(ni); d.append(di); loss.append(_positive(match[0].get("loss"), "loss", where))
        labels.append(obj.get("name", f.stem)); group.append(ds)
    if wanted is not None:
        unknown = sorted(wanted - set(seen))
        if unknown:
            raise FitInputError(f"{folder}: no runs trained on {', '.join(unknown)}; the training sets here are "
                                f"{', '.join(sorted(set(seen)))}")
    n_arr, d_arr = np.array(n), np.array(d)
    notes = [f"loss on validation set {val_set}", "C = 6ND (open_lm records no FLOP count)"]
    if wanted is not None:
        notes.append(f"training set {', '.join(sorted(wanted))} only")
    return Points(n=n_arr, d=d_arr, c=6 * n_arr * d_arr, loss=loss, labels=labels, group=group,
                  source=str(folder), n_convention="params (with embeddings)", c_convention="6ND",
                  notes=notes)


def load_any(path: str | Path, **kw: object) -> Points:
    """Dispatch on what the path is: a CSV file, a sweep directory, or an open_lm results folder."""
    p = Path(path)
    csv_keys = ("n_col", "d_col", "c_col", "loss_col", "group_col", "unique_col")
    if p.is_file():
        return load_csv(p, **{k: v for k, v in kw.items() if k in csv_keys and v is not None})  # type: ignore[arg-type]
    if p.is_dir() and (p / "runs").is_dir():
        return load_sweep(p, params=str(kw.get("params", "total")), flops=str(kw.get("flops", "6ND")))
    if p.is_dir() and ((p / "models").is_dir() or any(p.glob("*.json"))):
        return load_openlm(p, val_set=str(kw.get("val_set") or "c4_val"),
                           train_set=kw.get("train_set") or None)  # type: ignore[arg-type]
    if p.is_dir():
        raise FitInputError(f"{p}: no runs/ folder, CSV or open_lm models/ here: no runs to fit")
    raise FitInputError(f"{p}: no such file or directory")


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
    conventions = list(dict.fromkeys(p.c_convention for p in parts))
    if len(conventions) > 1:
        notes.append(f"inputs count C differently ({', '.join(conventions)}); each point keeps its own C")
    return Points(
        n=np.concatenate([p.n for p in parts]), d=np.concatenate([p.d for p in parts]),
        c=np.concatenate([p.c for p in parts]), loss=np.concatenate([p.loss for p in parts]),
        labels=[f"{Path(p.source).name}:{lab}" for p in parts for lab in p.labels],
        group=group, data_keys=data_keys, unique_tokens=uniq, curves=curves or None,
        source=" + ".join(p.source for p in parts), n_convention=parts[0].n_convention,
        c_convention=parts[0].c_convention, notes=notes,
        floor=_common_floor(p.floor for p in parts), run_curves=run_curves or None, weight=weight,
    )
