"""load_any: what a path is decides its loader, and the options each loader takes reach it."""

from __future__ import annotations

import json

import pytest

from harness.errors import FitInputError
from harness.fit.loaders import load_any


def test_a_csv_file_gets_its_column_names(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("size,D,L\n1e6,2e7,3.5\n")
    pts = load_any(p, n_col="size", loss_col="L", group_col=None, param_convention="total", val_set="c4_val")
    assert (pts.source, pts.param_convention, list(pts.loss)) == (str(p), "size", [3.5])


def test_an_open_lm_folder_gets_its_validation_set(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({
        "name": "run", "dataset_name": "rpj", "hyperparameters": {"params": 1e7, "tokens": 2e8},
        "results": [{"loss": 4.0, "val_data": ["/e/c4_val/s.tar"]}, {"loss": 3.0, "val_data": ["/e/open_lm/s.tar"]}]}))
    assert list(load_any(tmp_path, val_set="open_lm", train_set=None).loss) == [3.0]
    assert list(load_any(tmp_path, val_set=None).loss) == [4.0]


def test_a_folder_of_nothing_and_a_missing_path_are_one_line(tmp_path):
    with pytest.raises(FitInputError, match=r"no runs/ folder, CSV or open_lm models/ here: no runs to fit$"):
        load_any(tmp_path)
    with pytest.raises(FitInputError, match=r"nope: no such file or directory$"):
        load_any(tmp_path / "nope")
