"""Example points for every registered law, each law's own synthetic or published example: what the
contract test (test_law_contract.py) fits every law on. A law without an example fails that test,
so a new law adds one here, built as its own tests build their points."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from harness.fit.anchors import EPOCH
from harness.fit.loaders import load_sweep
from harness.fit.points import Points
from harness.records import write_record
from tests.fit.laws.test_annealing import CONSTANT, WSD, points_of, synthetic_run
from tests.fit.laws.test_critical_batch import sweep_records
from tests.fit.laws.test_data_constrained import repeated_runs
from tests.fit.laws.test_gadre import design


def isoflop_points(e_shift: float = 0.0, seed: int = 0) -> Points:
    """Six sizes around the optimum at each of four budgets, on Epoch's law (E moved by ``e_shift``)
    with 0.3% noise."""
    rng = np.random.default_rng(seed)
    n_l, d_l = [], []
    for c in (1e17, 1e18, 1e19, 1e20):
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 2, 6):
            n_l.append(n); d_l.append(c / (6 * n))
    n, d = np.array(n_l), np.array(d_l)
    return Points.from_arrays(n, d, (EPOCH.loss(n, d) + e_shift) * np.exp(rng.normal(0, 0.003, len(n))))


def two_datasets() -> Points:
    """The IsoFLOP grid on two data sets whose laws differ only in E: one set of exponents fits both."""
    a, b = isoflop_points(0.0, seed=0), isoflop_points(0.3, seed=1)
    return Points.from_arrays(np.concatenate([a.n, b.n]), np.concatenate([a.d, b.d]),
                              np.concatenate([a.loss, b.loss]), group=["web"] * len(a) + ["books"] * len(b))


def annealing_runs() -> Points:
    """One shape's constant and WSD curves of known constants (tests/fit/laws/test_annealing.py)."""
    return points_of([synthetic_run("c1000", CONSTANT, 1000), synthetic_run("w600", WSD, 600),
                      synthetic_run("w1000", WSD, 1000)])


def batch_sweep(tmp_path: Path) -> Points:
    """A batch-size sweep's records, written as a sweep writes them and loaded as harness-fit does."""
    for r in sweep_records():
        write_record(r, tmp_path)
    return load_sweep(tmp_path / "bs")


# law name -> its example points (the builder gets a fresh temporary folder to write records into).
EXAMPLES: dict[str, Callable[[Path], Points]] = {
    "annealing": lambda tmp: annealing_runs(),
    "approach1": lambda tmp: isoflop_points(),
    "approach2": lambda tmp: isoflop_points(),
    "chinchilla": lambda tmp: isoflop_points(),
    "critical_batch": batch_sweep,
    "data_constrained": lambda tmp: repeated_runs(noise=0.003, seed=0),
    "gadre": lambda tmp: design(),
    "kaplan": lambda tmp: isoflop_points(),
    "multipower": lambda tmp: annealing_runs(),
    "shared": lambda tmp: two_datasets(),
}
