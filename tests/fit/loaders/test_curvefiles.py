"""Loss curves from files: rates rebuilt at every step, W&B exports, and bad curve files refused in
one line naming the file (harness-fit exits 2, no traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli.fit import main
from harness.errors import FitInputError
from harness.fit.loaders import load_any
from harness.fit.loaders.curvefiles import CurveOptions, NamedSchedule, load_curve_file, load_curve_folder


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_rates_are_interpolated_between_logged_steps_and_a_warmup_is_assumed_before(tmp_path: Path) -> None:
    f = write(tmp_path / "run.csv", "step,lr,loss\n4,1.0,3.0\n8,0.6,2.9\n12,0.2,2.8\n")
    pts = load_curve_file(f)
    rc = pts.run_curves[0]
    # Steps 0-3: a linear warmup to the first logged rate, (i + 1) / 5; 4-11: linear between the logged rates.
    assert rc.eta() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    assert rc.eval_steps.tolist() == [4, 8, 12] and rc.steps == 12 and rc.warmup_steps == 4
    assert rc.shape_key == "run" and rc.label == "run"
    assert any("linear warmup" in n for n in pts.notes) and any("interpolation" in n for n in pts.notes)
    held = load_curve_file(f, CurveOptions(interp="previous")).run_curves[0]
    assert held.eta()[4:].tolist() == [1.0, 1.0, 1.0, 1.0, 0.6, 0.6, 0.6, 0.6]


def test_a_wandb_history_export_with_empty_cells(tmp_path: Path) -> None:
    # W&B logs each metric at its own steps: the rate every step, the validation loss every third.
    rows = ["_step,val/loss,lr,_runtime"] + [f"{s},{'' if s % 3 else 3.0 - 0.01 * s},{1e-3},{s}" for s in range(13)]
    f = write(tmp_path / "wandb_export.csv", "\n".join(rows) + "\n")
    pts = load_any(f, curves=CurveOptions(loss_col="val/loss"))
    rc = pts.run_curves[0]
    assert rc.eval_steps.tolist() == [3, 6, 9, 12]  # step 0's loss has no rate behind it
    assert rc.eta() == pytest.approx(np.full(12, 1e-3))
    assert not any("warmup" in n for n in pts.notes)


def test_a_wandb_panel_export_holds_one_curve_per_run(tmp_path: Path) -> None:
    text = ("Step,a - loss,a - loss__MIN,b - loss,a - lr,b - lr\n"
            "1,3.0,3.0,3.1,1e-3,2e-3\n2,2.9,2.9,3.0,1e-3,2e-3\n3,2.8,2.8,2.9,1e-3,2e-3\n4,2.7,2.7,2.8,1e-3,2e-3\n")
    pts = load_any(write(tmp_path / "panel.csv", text))
    assert sorted(rc.label for rc in pts.run_curves) == ["a", "b"]
    assert {rc.label: rc.peak_lr for rc in pts.run_curves} == {"a": 1e-3, "b": 2e-3}


def test_a_folder_is_one_model_and_a_points_csv_is_still_points(tmp_path: Path) -> None:
    d = tmp_path / "m25"
    d.mkdir()
    write(d / "one.csv", "step,lr,loss\n1,1,3\n2,1,2.9\n3,1,2.8\n")
    write(d / "two.csv", "step,lr,loss\n1,1,3\n2,0.5,2.9\n3,0.1,2.7\n")
    pts = load_curve_folder(d)
    assert {rc.shape_key for rc in pts.run_curves} == {"m25"} and len(pts) == 2
    points = write(tmp_path / "points.csv", "N,D,loss,step\n1e6,1e8,3.0,1\n2e6,1e8,2.9,1\n")
    assert load_any(points).run_curves is None


def test_a_named_schedule_gives_the_rates(tmp_path: Path) -> None:
    f = write(tmp_path / "run.csv", "step,loss\n10,3.0\n20,2.9\n40,2.8\n")
    sched = NamedSchedule.parse("name=cosine,peak_lr=1e-3,warmup_steps=4,final_lr_fraction=0.1")
    rc = load_curve_file(f, CurveOptions(schedule=sched)).run_curves[0]
    assert rc.eta()[3] == pytest.approx(1e-3) and rc.eta()[-1] == pytest.approx(1e-4)
    with pytest.raises(FitInputError, match="unknown key 'peek_lr'"):
        NamedSchedule.parse("name=cosine,peek_lr=1e-3")


@pytest.mark.parametrize("text, why", [
    ("step,loss\n1,3\n2,2.9\n3,2.8\n", "no 'lr' column and no --lr-schedule"),
    ("step,lr,loss\n1,1,3\n3,1,2.9\n2,1,2.8\n", "steps out of order"),
    ("step,lr,loss\n1,1,3\n2,1,2.9\n2,1,2.8\n", "steps out of order"),
    ("step,lr,loss\n1,1,3\n2,1,-2.9\n3,1,2.8\n", "row 3: loss is -2.9; it must be a finite positive number"),
    ("step,lr,loss\n1,1,3\n2,1,inf\n3,1,2.8\n", "row 3: loss is inf"),
    ("step,lr,loss\n1,1,3\n2,1,nan\n3,1,2.8\n", "loss is nan"),
    ("step,lr,loss\n1,-1,3\n2,1,2.9\n3,1,2.8\n", "row 2: lr is -1"),
    ("step,lr,loss\n1,1,3\n2,1,2.9\n", "a curve too short to fit"),
    ("step,lr,loss\n1,1,3\n2.5,1,2.9\n3,1,2.8\n", "is not a whole number"),
    ("step,lr,loss\n1,0,3\n2,0,2.9\n3,0,2.8\n", "every learning rate is 0"),
])
def test_bad_curve_files_are_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       text: str, why: str) -> None:
    f = write(tmp_path / "bad.csv", text)
    assert main([str(f), "--law", "multipower", "--json", str(tmp_path / "fit.json")]) == 2
    err = capsys.readouterr().err
    assert why in err and str(f) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "fit.json").exists()


def test_a_point_law_on_curves_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    f = write(tmp_path / "c.csv", "step,lr,loss\n1,1,3\n2,1,2.9\n3,1,2.8\n")
    assert main([str(f), "--law", "chinchilla"]) == 2
    assert "holds loss curves without model sizes" in capsys.readouterr().err
