"""--runs: a published design picks its runs by name; a pattern naming nothing is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import files
from harness.cli.fit import main
from harness.errors import FitInputError
from harness.fit.points import Points


def _points() -> Points:
    return Points.from_arrays([1e6, 2e6, 4e6, 8e6], [2e7, 4e7, 8e7, 1.6e8], [3.0, 2.8, 2.6, 2.5],
                              labels=["a-1.0", "b-1.0", "b-16.0", "c-1.0"])


def test_select_keeps_the_points_whose_label_matches_a_pattern():
    kept = _points().select(["*-1.0", "b-16.0"])
    assert kept.labels == ["a-1.0", "b-1.0", "b-16.0", "c-1.0"]
    kept = _points().select(["b-*"])
    assert kept.labels == ["b-1.0", "b-16.0"] and list(kept.n) == [2e6, 4e6]
    assert "kept the 2 of 4 points" in kept.notes[-1]


def test_a_pattern_that_matches_nothing_is_an_error_naming_it():
    with pytest.raises(FitInputError, match="--runs z-1.0"):
        _points().select(["a-1.0", "z-1.0"])


@pytest.mark.shared_data
def test_gadre_headline_from_the_shared_folder_by_run_names(shared_data, capsys):
    # Gadre et al. 2024: their four small RedPajama runs at M=20 and the 11M run at M=320 predict
    # the 1.4B run at M=640 and the 6.9B run at M=20 (their figures 0.71% and 0.73%).
    rc = main([str(shared_data / "gadre_scaling"), "--train-set", "rpj", "--law", "gadre", "--holdout", "2",
               "--bootstrap", "0", "--runs", "rpj-d=*-1.0,rpj-d=96_l=8_h=4-16.0",
               "--runs", "rpj-open_lm_1b-32.0,rpj-open_lm_7b-1.0"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "fit of 7 points" in out and "mean |err| 0.72%, max 0.73%" in out


def test_a_sweeps_points_do_not_depend_on_its_record_file_names(tmp_path):
    # The bootstrap draws by position: the same runs under other ids must give the same order.
    import shutil

    from harness import records
    from harness.fit.loaders import load_sweep

    src = Path(__file__).resolve().parents[2] / "results" / "demo"
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(src / "runs", a / "runs")
    (b / "runs").mkdir(parents=True)
    for i, path in enumerate(sorted((src / "runs").glob("*.json"), reverse=True)):
        rec = records.read_record(path)
        fake = f"{i:016x}"  # reversed file order under new names
        files.atomic_write_text(b / "runs" / f"{fake}.json", records.record_json(dataclasses.replace(rec, run_id=fake)))
    pa, pb = load_sweep(a), load_sweep(b)
    assert list(pa.c) == list(pb.c) and list(pa.n) == list(pb.n) and list(pa.loss) == list(pb.loss)


def test_an_interval_from_a_few_surviving_resamples_is_flagged():
    # results/synthetic_adaptive_cpu/first: two of three IsoFLOP minima sit at the largest shape, so
    # most resamples of approach 2 lose a bracketed minimum; the 8 that survive give [0.902, 0.902].
    from harness.fit.api import fit_points
    from harness.fit.loaders import load_sweep

    sweep = Path(__file__).resolve().parents[2] / "results" / "synthetic_adaptive_cpu" / "first"
    rep = fit_points(load_sweep(sweep), ["approach2"], bootstrap=200)
    res = rep.results[0]
    assert any(w.startswith("UNDER-DETERMINED: only 8 of 200 bootstrap resamples") for w in res.warnings)
    assert "only 8 of 200" in rep.headline()
