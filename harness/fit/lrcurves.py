"""Training curves with the learning rate of every step, for laws of the whole loss curve.

The annealing law (Tissue et al. 2024) reads a loss at step s as a function of the areas under the
learning-rate schedule up to s, so it needs the exact rate of every step, not the curve's sampled
``lr`` field. A run's rates are rebuilt from its config with ``harness.schedule.lr_factor``, the
very function the run trained with. Nothing here imports torch or the records' IO.

Step convention: a curve point at ``step = s`` is the model after s optimizer steps, i.e. after
the updates with rates eta_0 .. eta_{s-1}; so every area at s sums the first s rates.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from harness.budget import uncapped_warmup_steps
from harness.config import ScheduleConfig
from harness.errors import FitInputError
from harness.schedule import lr_factor


@dataclass
class RunCurve:
    """One run's validation curve and what it takes to rebuild its learning rate at every step."""

    run_id: str
    shape_key: str  # the model's shape as canonical JSON: runs of one shape share it across sweeps
    shape_label: str  # short, readable (L2d48, as the sweep's and the tuner's labels)
    n: float
    data_key: str
    steps: int
    warmup_steps: int
    peak_lr: float
    schedule: dict[str, Any]  # the record's config.schedule as written (old records lack newer keys)
    tokens_per_step: float
    flops_per_token: float  # in the points' FLOP convention
    eval_steps: np.ndarray  # int, > 0
    eval_loss: np.ndarray
    eval_full: np.ndarray  # bool: evaluated on the whole validation set (else on train.eval_sequences)
    final_loss: float
    # A curve read from a file (harness.fit.loaders.curvefiles): its name (the file's, or a W&B run's)
    # and its rate at every step, rebuilt from the logged rates; None for a run record, whose rates
    # follow from its schedule (``learning_rates``).
    name: str = ""
    rates: np.ndarray | None = None
    seed: int | None = None  # a run record's seed (init and data order); None for a curve file

    @property
    def schedule_name(self) -> str:
        return str(self.schedule.get("name", "cosine"))

    @property
    def label(self) -> str:
        """What ``--fit-curves`` matches and the report names: a file curve's name, a run's id."""
        return self.name or self.run_id

    def eta(self) -> np.ndarray:
        """The rate of every optimizer step, eta_0 .. eta_{steps-1}."""
        if self.rates is not None:
            return self.rates
        return learning_rates(self.schedule, self.steps, self.warmup_steps, self.peak_lr)


def schedule_config(schedule: Mapping[str, Any] | ScheduleConfig) -> ScheduleConfig:
    """A ScheduleConfig from a record's schedule dict; keys a record predates take their defaults,
    and keys this version does not know are ignored (a newer record read by older code)."""
    if isinstance(schedule, ScheduleConfig):
        return schedule
    known = {f.name for f in dataclasses.fields(ScheduleConfig)}
    return ScheduleConfig(**{k: v for k, v in schedule.items() if k in known})


def learning_rates(schedule: Mapping[str, Any] | ScheduleConfig, steps: int, warmup_steps: int,
                   peak_lr: float) -> np.ndarray:
    """eta_i for i = 0 .. steps-1, exactly as the run's LambdaLR gave them."""
    cfg = schedule_config(schedule)
    return peak_lr * np.fromiter((lr_factor(i, steps, warmup_steps, cfg) for i in range(steps)),
                                 dtype=float, count=steps)


# A curve law fits the points after this fraction of each shape's longest fitted run (and after the
# warmup): see harness.fit.laws.multipower on why.
FIT_FROM = 0.02


def check_fit_from(law: str, fit_from: object) -> float:
    """A curve law's ``fit_from`` setting (the fraction of each shape's longest fitted run before
    which points are not fitted), or a one-line FitInputError naming the law."""
    if isinstance(fit_from, bool) or not isinstance(fit_from, (int, float)) or not 0.0 <= fit_from < 1.0:
        raise FitInputError(f"{law}: fit_from must be a fraction of the run in [0, 1), got {fit_from!r}")
    return float(fit_from)


def forward_area(eta: np.ndarray) -> np.ndarray:
    """S1 at s = 0 .. len(eta): the sum of the first s rates."""
    return np.concatenate([[0.0], np.cumsum(eta)])


def annealing_area(eta: np.ndarray, warmup_steps: int, lam: float) -> np.ndarray:
    """S2 at s = 0 .. len(eta): sum of m_i over the first s steps, m_i = lam*m_{i-1} + (eta_{i-1} - eta_i).

    The rises of the warmup are left out (their increments set to 0): read literally they would be
    "negative annealing" that the law turns into extra loss, while the paper's law describes what
    a fall of the rate buys. Step 0 has no previous rate, so its increment is 0 too.
    """
    delta = np.zeros_like(eta)
    if len(eta) > 1:
        delta[1:] = eta[:-1] - eta[1:]
    delta[:max(0, min(warmup_steps, len(eta)))] = 0.0
    m = _momentum(delta, lam)
    return np.concatenate([[0.0], np.cumsum(m)])


def _momentum(delta: np.ndarray, lam: float) -> np.ndarray:
    try:
        from scipy.signal import lfilter
    except ImportError:  # scipy is a dependency of the fitter; the loop is the same filter
        out, acc = np.empty_like(delta), 0.0
        for i, d in enumerate(delta):
            acc = lam * acc + d
            out[i] = acc
        return out
    return lfilter([1.0], [1.0, -lam], delta)


def shape_key(shape: Mapping[str, Any]) -> str:
    return json.dumps(dict(shape), sort_keys=True, default=str)


def shape_label(shape: Mapping[str, Any], n: float) -> str:
    if "d_model" in shape and "n_layer" in shape:
        return f"L{shape['n_layer']}d{shape['d_model']}"
    return f"N={n:.3g}"


def warmup_steps(schedule: Mapping[str, Any] | ScheduleConfig, steps: int, tokens_per_step: float) -> int:
    """The warmup in steps of a run of ``steps`` steps, by harness/budget.py's one rule."""
    return min(uncapped_warmup_steps(schedule_config(schedule), int(steps), tokens_per_step), int(steps))


def _record_warmup(rec: Any, tokens_per_step: float) -> int:
    w = (rec.extra or {}).get("warmup_steps") if isinstance(getattr(rec, "extra", None), dict) else None
    if isinstance(w, int):
        return w
    # Records written before extra.warmup_steps existed.
    sched = rec.config.get("schedule", {}) if isinstance(rec.config, dict) else {}
    return warmup_steps(sched, rec.steps, tokens_per_step)


def run_curve(rec: Any, n: float, flops: str, data_key: str, eval_subset: bool) -> RunCurve | None:
    """The RunCurve of a completed record, or None when it holds no usable curve (no evaluation
    after step 0, no schedule or peak rate in its config)."""
    cfg = rec.config if isinstance(rec.config, dict) else {}
    sched, optim = cfg.get("schedule"), cfg.get("optim")
    if not isinstance(sched, dict) or not isinstance(optim, dict) or not optim.get("lr") or not rec.steps:
        return None
    pts = [p for p in rec.curve if p.val_loss is not None and p.step > 0 and math.isfinite(p.val_loss)]
    if not pts or rec.val_loss is None:
        return None
    tps = float(rec.tokens) / float(rec.steps)
    steps_arr = np.array([p.step for p in pts], dtype=int)
    return RunCurve(
        run_id=rec.run_id, shape_key=shape_key(rec.shape), shape_label=shape_label(rec.shape, n), n=n,
        data_key=data_key, steps=int(rec.steps), warmup_steps=_record_warmup(rec, tps), peak_lr=float(optim["lr"]),
        schedule=dict(sched), tokens_per_step=tps, flops_per_token=float(rec.flops[flops]) / float(rec.tokens),
        eval_steps=steps_arr, eval_loss=np.array([p.val_loss for p in pts], dtype=float),
        # With a subset for intermediate evaluations only the final point saw the whole set.
        eval_full=(steps_arr == rec.steps) if eval_subset else np.ones(len(pts), dtype=bool),
        final_loss=float(rec.val_loss), seed=rec.seed if isinstance(rec.seed, int) else None)
