"""Data sets are never pooled by accident: every point carries a readable data-set label.

Records are grouped by their data fingerprint (what the tokens are), not by settings that leave
the data as it is; open_lm runs by their training set. A fit that assumes one data set refuses
several with one line naming them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.datalabels import data_label, disambiguate
from harness.fit.loaders import load_csv, load_openlm, load_sweep
from harness.fit.points import Points, concat
from harness.records import CurvePoint, RunRecord, write_record

ELTEC = {"kind": "text", "paths": ["../shared/data/eltec_eng/eltec_eng.jsonl.gz"], "hub_path": None,
         "hub_name": None, "seed": 1234, "seq_len": 256, "val_sequences": 256, "vocab_size": 1024}
SYNTH = {"kind": "synthetic", "seed": 1234, "seq_len": 64, "val_sequences": 256, "vocab_size": 128}


def _rec(run_id, n, d, loss, data, fingerprint, sweep="sw", eval_sequences=0, curve_losses=None,
         final_loss=None):
    """A completed run record; its curve has 4 evaluations, the last one at the final step."""
    steps = 40
    c = 6.0 * n * d
    curve_losses = curve_losses or [loss + 0.3, loss + 0.2, loss + 0.1]
    curve = [CurvePoint(step=s, tokens=int(d * s / steps), flops={"6ND": c * s / steps}, train_loss=None,
                        val_loss=v, lr=1e-3) for s, v in zip((10, 20, 30), curve_losses)]
    curve.append(CurvePoint(step=steps, tokens=int(d), flops={"6ND": c}, train_loss=None,
                            val_loss=final_loss if final_loss is not None else loss, lr=0.0))
    return RunRecord(
        run_id=run_id, status="completed", sweep_name=sweep,
        config={"data": data, "train": {"eval_sequences": eval_sequences}},
        shape={}, params={"total": int(n), "embedding": 0, "head": 0, "non_embedding": int(n)}, tokens=int(d),
        steps=steps, flops={"6ND": c, "6ND_nonemb": c, "kaplan": c, "chinchilla": c}, val_loss=loss,
        bayes_loss=None, curve=curve, wall_seconds=1.0, tokens_per_second=None, mfu=None, peak_flops=None,
        device_name="cpu", torch_version="x", git_commit=None, data_fingerprint=fingerprint, unique_tokens=None,
        epochs=None, seed=0, started_at="t", ended_at="t")


# --- labels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg, label", [
    (SYNTH, "synthetic (seed 1234)"),
    (ELTEC, "text: eltec_eng"),
    ({"kind": "text", "paths": ["a.txt", "data/b.txt"]}, "text: a.txt, b.txt"),
    ({"kind": "text", "paths": ["a.parquet", "b.json", "c.txt", "d.jsonl"]}, "text: a, b, c.txt +1 more"),
    ({"kind": "text", "paths": [], "hub_path": "roneneldan/TinyStories"}, "text: roneneldan/TinyStories"),
    ({"kind": "text", "paths": [], "hub_path": "HuggingFaceFW/fineweb-edu", "hub_name": "sample-10BT"},
     "text: HuggingFaceFW/fineweb-edu (sample-10BT)"),
])
def test_readable_label(cfg, label):
    assert data_label(cfg) == label


def test_same_label_different_data_gets_a_fingerprint_prefix():
    labels = disambiguate(["synthetic (seed 1234)"] * 3, ["synthetic-69471a75f5e4af6a", "synthetic-1234abcd00000000",
                                                          "synthetic-69471a75f5e4af6a"])
    assert labels == ["synthetic (seed 1234) [69471a75]", "synthetic (seed 1234) [1234abcd]",
                      "synthetic (seed 1234) [69471a75]"]
    # Prefixes that collide are lengthened until they do not.
    assert disambiguate(["x", "x"], ["abcdefgh1111", "abcdefgh2222"]) == ["x [abcdefgh1111]", "x [abcdefgh2222]"]


# --- records --------------------------------------------------------------------------------------

def test_seq_len_sweep_on_one_corpus_is_one_data_set(tmp_path):
    """The text fingerprint leaves seq_len out (it only picks windows): one data set, not two.

    Before, the group was the JSON of the whole data section, so this sweep was split in two.
    """
    for i, seq_len in enumerate((128, 256)):
        write_record(_rec(f"r{i}", 1e5 * (i + 1), 1e7, 4.0 - i / 10, {**ELTEC, "seq_len": seq_len}, "c6d941022c5e5011"),
                     tmp_path)
    pts = load_sweep(tmp_path / "sw")
    assert pts.datasets() == ["text: eltec_eng"]
    assert pts.group == ["text: eltec_eng", "text: eltec_eng"]
    pts.require_one_dataset("chinchilla")  # no error


def test_two_fingerprints_are_refused_by_a_single_law_and_split_by_dataset(tmp_path):
    write_record(_rec("a", 1e5, 1e7, 4.0, ELTEC, "c6d941022c5e5011"), tmp_path)
    write_record(_rec("b", 2e5, 1e7, 3.9, ELTEC, "c6d941022c5e5011"), tmp_path)
    write_record(_rec("c", 1e5, 1e7, 2.0, SYNTH, "synthetic-69471a75f5e4af6a"), tmp_path)
    pts = load_sweep(tmp_path / "sw")
    # Points are ordered by what was measured (C, then N, D, loss), not by file name: c, a, b.
    assert pts.datasets() == ["synthetic (seed 1234)", "text: eltec_eng"]
    with pytest.raises(FitInputError) as e:
        pts.require_one_dataset("chinchilla")
    assert str(e.value) == ("chinchilla: the points come from 2 data sets (synthetic (seed 1234) and text: "
                            "eltec_eng); fit each with --by-data, or jointly with --law shared")
    parts = pts.by_dataset()
    assert list(parts) == pts.datasets()
    assert parts["text: eltec_eng"].labels == ["a", "b"] and parts["synthetic (seed 1234)"].labels == ["c"]
    assert [cv.run_id for cv in parts["text: eltec_eng"].curves] == ["a", "b"]


def test_two_sweeps_of_same_label_but_different_data_stay_apart(tmp_path):
    write_record(_rec("a", 1e5, 1e7, 2.0, SYNTH, "synthetic-69471a75f5e4af6a", sweep="s1"), tmp_path)
    write_record(_rec("b", 1e5, 1e7, 2.5, {**SYNTH, "vocab_size": 256}, "synthetic-0123456789abcdef", sweep="s2"),
                 tmp_path)
    write_record(_rec("c", 2e5, 1e7, 1.9, SYNTH, "synthetic-69471a75f5e4af6a", sweep="s3"), tmp_path)
    both = concat([load_sweep(tmp_path / s) for s in ("s1", "s2", "s3")])
    assert both.datasets() == ["synthetic (seed 1234) [69471a75]", "synthetic (seed 1234) [01234567]"]
    assert len(both.by_dataset()["synthetic (seed 1234) [69471a75]"]) == 2


def test_unlabelled_csvs_are_one_data_set_but_not_beside_a_sweep(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("N,D,loss\n1e6,1e8,3\n")
    b.write_text("N,D,loss\n2e6,1e8,2.9\n")
    both = concat([load_csv(a), load_csv(b)])
    assert both.group is None and both.datasets() == ["a.csv + b.csv"]
    both.require_one_dataset("chinchilla")  # no error: the user gave them together
    write_record(_rec("r", 1e5, 1e7, 2.0, SYNTH, "synthetic-69471a75f5e4af6a"), tmp_path)
    mixed = concat([load_csv(a), load_sweep(tmp_path / "sw")])
    assert mixed.datasets() == ["a.csv", "synthetic (seed 1234)"]
    # A group column that names the sweep's data set joins it: the label is taken at its word.
    named = tmp_path / "named.csv"
    named.write_text("N,D,loss,data\n1e6,1e8,3,synthetic (seed 1234)\n")
    joined = concat([load_csv(named, group_col="data"), load_sweep(tmp_path / "sw")])
    assert joined.datasets() == ["synthetic (seed 1234)"] and len(joined) == 2


def test_unreadable_records_are_skipped_with_a_note(tmp_path):
    for i in range(3):
        write_record(_rec(f"r{i}", 1e5 * (i + 1), 1e7, 3.0 - i / 10, SYNTH, "synthetic-69471a75f5e4af6a"), tmp_path)
    runs = tmp_path / "sw" / "runs"
    good = (runs / "r0.json").read_text()
    (runs / "truncated.json").write_text(good[: len(good) // 2])
    (runs / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (runs / "partial.json").write_text(json.dumps({"run_id": "x", "status": "completed"}))
    (runs / "old.json.corrupt").write_text("ignored by the glob")
    pts = load_sweep(tmp_path / "sw")
    assert len(pts) == 3
    skipped = sorted(n for n in pts.notes if n.startswith("skipped "))
    assert [s.split(":")[0] for s in skipped] == [f"skipped {runs / n}" for n in ("binary.json", "partial.json",
                                                                                 "truncated.json")]
    assert "not valid JSON" in skipped[2] and "missing key(s)" in skipped[1]
    assert all("\n" not in s for s in skipped)


def test_only_unreadable_records_is_one_line(tmp_path):
    (tmp_path / "sw" / "runs").mkdir(parents=True)
    (tmp_path / "sw" / "runs" / "r.json").write_text("{")
    with pytest.raises(FitInputError, match=r"no readable run records .*1 unreadable: skipped .*r\.json: not valid JSON"):
        load_sweep(tmp_path / "sw")


# --- approach 1's curves: one validation set per curve -------------------------------------------

def test_final_full_set_point_left_out_when_intermediate_evals_used_a_subset(tmp_path):
    """Intermediate evaluations on the first 64 of 256 sequences, the final one on all 256.

    The final point is on another set (lower here by much more than training could explain), so
    it is left out of the curve; the run's final loss is still the point approach 2/3 fit.
    """
    data = {**SYNTH, "val_sequences": 256}
    write_record(_rec("r", 1e5, 1e7, 1.80, data, "synthetic-69471a75f5e4af6a", eval_sequences=64,
                      curve_losses=[2.2, 2.05, 1.97]), tmp_path)
    pts = load_sweep(tmp_path / "sw")
    assert pts.loss.tolist() == [1.80]
    (cv,) = pts.curves
    assert cv.loss.tolist() == [2.2, 2.05, 1.97] and cv.tokens.tolist() == [2.5e6, 5e6, 7.5e6]
    assert any("first 64 of 256 validation sequences" in n for n in pts.notes)


@pytest.mark.parametrize("eval_sequences", [0, 256, 512])
def test_whole_set_evaluations_keep_the_final_point(tmp_path, eval_sequences):
    write_record(_rec("r", 1e5, 1e7, 1.80, SYNTH, "synthetic-69471a75f5e4af6a", eval_sequences=eval_sequences,
                      curve_losses=[2.2, 2.05, 1.97]), tmp_path)
    pts = load_sweep(tmp_path / "sw")
    assert pts.curves[0].loss.tolist() == [2.2, 2.05, 1.97, 1.80]
    assert not any("validation sequences" in n for n in pts.notes)


def test_runs_with_different_eval_subsets_give_no_curves(tmp_path):
    write_record(_rec("a", 1e5, 1e7, 1.8, SYNTH, "synthetic-69471a75f5e4af6a", eval_sequences=64), tmp_path)
    write_record(_rec("b", 2e5, 1e7, 1.7, SYNTH, "synthetic-69471a75f5e4af6a", eval_sequences=32), tmp_path)
    pts = load_sweep(tmp_path / "sw")
    assert pts.curves is None and any("different validation subsets" in n for n in pts.notes)


def test_committed_demo_curves_are_all_on_the_subset():
    """results/demo_porian_cpu (the demo before the tuned rule): intermediate evals on 64 of 256
    sequences; each curve ends before the last step."""
    from pathlib import Path
    demo = Path(__file__).resolve().parents[2] / "results" / "demo_porian_cpu"
    pts = load_sweep(demo)
    assert pts.datasets() == ["synthetic (seed 1234)"] and len(pts.curves) == 12
    final_tokens = dict(zip(pts.labels, pts.d))
    for cv in pts.curves:
        assert cv.tokens.max() < final_tokens[cv.run_id]  # the final (whole-set) point is not in the curve
    # The curve's last loss sits above the final whole-set loss by far more than the Bayes gap of
    # the two sets (1.2219 - 1.2136): another set, not more training.
    run = pts.labels.index("0db47016ec873c8a")
    cv = next(c for c in pts.curves if c.run_id == "0db47016ec873c8a")
    assert cv.loss[-1] == pytest.approx(1.9667, abs=1e-4) and pts.loss[run] == pytest.approx(1.8119, abs=1e-4)


# --- open_lm (Gadre et al. 2024) ------------------------------------------------------------------

def test_openlm_labels_by_training_set_and_picks_one(shared_data):
    folder = shared_data / "gadre_scaling"
    pts = load_openlm(folder)
    assert pts.datasets() == ["c4_original", "rpj", "rw_original"]
    assert {k: len(v) for k, v in pts.by_dataset().items()} == {"c4_original": 34, "rpj": 35, "rw_original": 35}
    with pytest.raises(FitInputError, match=r"3 data sets \(c4_original, rpj, rw_original\); fit each with --by-data"):
        pts.require_one_dataset("chinchilla")
    rpj = load_openlm(folder, train_set="rpj")
    assert len(rpj) == 35 and rpj.datasets() == ["rpj"] and "training set rpj only" in rpj.notes
    assert len(load_openlm(folder, train_set=["rpj", "c4_original"])) == 69
    with pytest.raises(FitInputError) as e:
        load_openlm(folder, train_set="redpajama")
    assert str(e.value).endswith("no runs trained on redpajama; the training sets here are c4_original, rpj, "
                                 "rw_original")


# --- Points.from_arrays -----------------------------------------------------------------------------

def test_from_arrays_defaults_to_6nd_and_checks_values():
    pts = Points.from_arrays([1e6, 2e6], [1e8, 2e8], [3.0, 2.9])
    assert pts.c.tolist() == [6e14, 2.4e15] and pts.flops_convention == "6ND" and "C = 6ND (no C given)" in pts.notes
    assert pts.datasets() == ["arrays"] and pts.labels == ["point0", "point1"]
    with pytest.raises(FitInputError, match="point 1: loss is nan"):
        Points.from_arrays([1e6, 2e6], [1e8, 2e8], [3.0, np.nan])
    with pytest.raises(FitInputError, match="n, d and loss have 2, 1 and 2 values"):
        Points.from_arrays([1e6, 2e6], [1e8], [3.0, 2.9])
    given = Points.from_arrays([1e6], [1e8], [3.0], c=[9e14], flops_convention="kaplan", group=["web"])
    assert given.c.tolist() == [9e14] and given.flops_per_token(1e6).tolist() == pytest.approx(9.0)
    assert given.datasets() == ["web"]
