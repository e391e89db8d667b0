"""Critical batch size: steps-to-target interpolation and recovery of B_crit from the McCandlish relation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.errors import InsufficientData
from harness.fit.laws.critical_batch import (
    CriticalBatchFit,
    critical_batch_from_records,
    steps_to_target,
)
from harness.records import CurvePoint, RunRecord, write_record

SEQ_LEN = 128
TOKENS = 4_000_000
L0 = 10.0


def _record(i, n, batch, curve, seq_len=SEQ_LEN):
    final = next((p.val_loss for p in reversed(curve) if p.val_loss is not None), 3.0)
    c = 6.0 * n * TOKENS
    return RunRecord(run_id=f"r{i}", status="completed", sweep_name="bs",
                     config={"data": {"name": "synthetic", "seq_len": seq_len}, "train": {"batch_size": batch}},
                     shape={}, params={"total": int(n), "embedding": 0, "head": 0, "non_embedding": int(n * 0.9)},
                     tokens=TOKENS, steps=curve[-1].step, flops={"6ND": c, "6ND_nonemb": c * 0.9, "kaplan": c, "chinchilla": c},
                     val_loss=final, bayes_loss=None, curve=curve, wall_seconds=1.0, tokens_per_second=None, mfu=None,
                     peak_flops=None, device_name="cpu", torch_version="x", git_commit=None, data_fingerprint="f",
                     unique_tokens=None, epochs=None, seed=0, started_at="t", ended_at="t")


def _mccandlish_curve(n, batch, b_noise_tokens, a=100.0, every=10):
    """Loss after s steps at B tokens/step: ln(L0/L) = s / (a (1 + B_noise/B)).

    So steps to any target L are S = S_min (1 + B_noise/B) with S_min = a ln(L0/L): the exact
    McCandlish relation with B_crit = B_noise, and log loss linear in steps (interpolation is exact).
    Val loss only every `every` steps, as in a real run; train loss on the others.
    """
    tps = batch * SEQ_LEN
    n_steps = TOKENS // tps
    k = a * (1 + b_noise_tokens / tps)
    pts = []
    for s in range(1, n_steps + 1):
        loss = L0 * math.exp(-s / k)
        ev = s % every == 0 or s == n_steps
        pts.append(CurvePoint(step=s, tokens=s * tps, flops={"6ND": 6.0 * n * s * tps}, train_loss=loss * 1.05,
                              val_loss=loss if ev else None, lr=1e-3))
    return pts


SHAPES = {2e6: 32 * SEQ_LEN, 8e6: 96 * SEQ_LEN}  # params -> B_crit in tokens


def sweep_records(batches=(8, 16, 32, 64, 128, 256)):
    recs, i = [], 0
    for n, bn in SHAPES.items():
        for b in batches:
            recs.append(_record(i, n, b, _mccandlish_curve(n, b, bn)))
            i += 1
    return recs


def test_recovers_b_crit():
    shapes, warnings = critical_batch_from_records(sweep_records())
    assert [sh.params for sh in shapes] == sorted(SHAPES) and not warnings
    for sh in shapes:
        want = SHAPES[sh.params]
        assert sh.b_crit_tokens == pytest.approx(want, rel=0.02)
        assert sh.b_crit_sequences == pytest.approx(want / SEQ_LEN, rel=0.02)
        s_min = 100.0 * math.log(L0 / sh.target_loss)
        assert sh.s_min == pytest.approx(s_min, rel=0.02) and sh.e_min == pytest.approx(s_min * want, rel=0.02)
        assert sh.converged and len(sh.runs) == 6


def test_explicit_target_gives_same_b_crit():
    shapes, _ = critical_batch_from_records(sweep_records(), target={"N=2e+06": 5.0, 8e6: 4.0})
    assert [sh.target_loss for sh in shapes] == [5.0, 4.0]
    for sh in shapes:
        assert sh.b_crit_tokens == pytest.approx(SHAPES[sh.params], rel=0.02)


def test_steps_to_target_interpolates_in_log_loss():
    steps, toks, loss = np.array([0, 10, 20.]), np.array([0, 100, 200.]), np.array([4.0, 2.0, 1.0])
    assert steps_to_target(steps, toks, loss, math.sqrt(2)) == pytest.approx((15.0, 150.0))
    assert steps_to_target(steps, toks, loss, 2.0) == pytest.approx((10.0, 100.0))
    assert steps_to_target(steps, toks, loss, 5.0) == pytest.approx((0.0, 0.0))
    assert steps_to_target(steps, toks, loss, 0.5) is None


def test_record_curve_uses_val_points_and_falls_back_to_train():
    def cp(s, val, train):
        return CurvePoint(step=s, tokens=s * 10, flops={"6ND": 1.0}, train_loss=train, val_loss=val, lr=1e-3)
    # Train loss crosses 2.0 early; the val points (4 -> 1 between steps 10 and 30) must decide.
    with_val = [cp(10, 4.0, 3.0), cp(20, None, 1.5), cp(30, 1.0, 1.0)]
    train_only = [cp(10, None, 4.0), cp(20, None, 2.0), cp(30, None, 1.0)]
    recs = [_record(0, 1e6, 8, with_val), _record(1, 1e6, 16, train_only), _record(2, 1e6, 32, train_only)]
    shapes, _ = critical_batch_from_records(recs, target=2.0)
    runs = {rt.run_id: rt for rt in shapes[0].runs}
    assert runs["r0"].steps == pytest.approx(20.0) and runs["r0"].tokens == pytest.approx(200.0)
    assert runs["r1"].steps == pytest.approx(20.0)


def test_too_few_batch_sizes_is_insufficient():
    with pytest.raises(InsufficientData, match="3 distinct batch sizes"):
        CriticalBatchFit().fit(records=sweep_records(batches=(8, 64)))
    with pytest.raises(InsufficientData, match="run records"):
        CriticalBatchFit().fit(None)


@pytest.mark.slow
def test_sweep_dir_default_laws_and_cli(tmp_path, capsys):
    from harness.cli.fit import main
    from harness.fit.api import default_laws
    from harness.fit.loaders import load_sweep

    for r in sweep_records():
        write_record(r, tmp_path)
    sweep = tmp_path / "bs"
    assert "critical_batch" in default_laws(load_sweep(sweep))
    assert main([str(sweep), "--law", "critical_batch", "--bootstrap", "0"]) == 0
    law = json.loads((sweep / "fit.json").read_text())["laws"][0]
    assert law["law"] == "critical_batch"
    assert law["params"]["B_crit_tokens@N=2e+06"] == pytest.approx(SHAPES[2e6], rel=0.02)
    assert "B_crit (tokens)" in (sweep / "report.md").read_text()

    small = tmp_path / "small"
    for r in sweep_records(batches=(8, 64)):
        write_record(r, small)
    assert "critical_batch" not in default_laws(load_sweep(small / "bs"))
    capsys.readouterr()
    assert main([str(small / "bs"), "--law", "critical_batch", "--bootstrap", "0"]) == 2
    assert "critical_batch: critical batch size needs runs at >= 3 distinct batch sizes" in capsys.readouterr().err


def test_bootstrap_is_honoured_not_dropped():
    """CriticalBatchFit took n_bootstrap and ignored it; now every shape gets intervals from resamples."""
    f = CriticalBatchFit(n_bootstrap=50, seed=0).fit(records=sweep_records())
    r = f.result()
    keys = [k for k in r.params if k.startswith("B_crit_tokens@")]
    assert keys and all(k in r.ci for k in keys)
    for k in keys:
        lo, hi = r.ci[k]
        assert lo <= r.params[k] <= hi
    assert 0 < r.details["n_bootstrap"] <= 50
    assert CriticalBatchFit(n_bootstrap=0).fit(records=sweep_records()).result().ci == {}
