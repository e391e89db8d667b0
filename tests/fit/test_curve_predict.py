"""Choosing the fitted curves by name, and the summary of held-out predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import FitInputError
from harness.fit.curve_predict import prediction_summary, split_curves
from harness.fit.loaders.curvefiles import load_curve_folder


def folder(tmp_path: Path) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    for name in ("cosine_1", "cosine_2", "const_1"):
        (d / f"{name}.csv").write_text("step,lr,loss\n1,1,3\n2,1,2.9\n3,1,2.8\n")
    return d


def test_named_curves_are_fitted_and_the_rest_predicted(tmp_path: Path) -> None:
    pts = load_curve_folder(folder(tmp_path))
    fit, held = split_curves(pts, "cosine_*")
    assert sorted(rc.label for rc in fit.run_curves) == ["cosine_1", "cosine_2"] and len(fit) == 2
    assert [rc.label for rc in held] == ["const_1"]
    with pytest.raises(FitInputError, match="--fit-curves nope: no curve of .* has that name"):
        split_curves(pts, "cosine_1,nope")


def test_summary_is_luo_et_al_s_pred_e_and_worst_e() -> None:
    rows = [{"mean_rel_error": 0.001, "max_rel_error": 0.004, "final_rel_error": -0.002},
            {"mean_rel_error": 0.003, "max_rel_error": 0.010, "final_rel_error": 0.004}]
    s = prediction_summary(rows)
    assert s["pred_e"] == pytest.approx(0.002) and s["worst_e"] == pytest.approx(0.007)
    assert s["worst_point"] == pytest.approx(0.010) and s["mean_abs_final_rel_error"] == pytest.approx(0.003)
