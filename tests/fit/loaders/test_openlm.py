"""open_lm result files: each run's loss on one validation set, labelled by its training set."""

from __future__ import annotations

import json

import pytest

from harness.errors import FitInputError
from harness.fit.loaders import load_openlm


def _result(folder, name, dataset, params, tokens, losses):
    """One models/<name>.json as open_lm writes it: a result per validation set, found by its path."""
    results = [{"loss": loss, "val_data": [f"/eval/{val}/shard-0000000.tar"]} for val, loss in losses.items()]
    (folder / "models").mkdir(exist_ok=True)
    (folder / "models" / f"{name}.json").write_text(json.dumps(
        {"name": name, "dataset_name": dataset, "hyperparameters": {"params": params, "tokens": tokens},
         "results": results}))


@pytest.fixture
def folder(tmp_path):
    _result(tmp_path, "rpj-small", "rpj", 1e7, 2e8, {"c4_val": 4.1, "open_lm": 3.9})
    _result(tmp_path, "rpj-big", "rpj", 1e8, 2e9, {"c4_val": 3.2, "open_lm": 3.0})
    _result(tmp_path, "rw-small", "rw_original", 1e7, 2e8, {"c4_val": 4.4, "open_lm": 4.0})
    return tmp_path


def test_loss_on_the_chosen_validation_set_labelled_by_training_set(folder):
    pts = load_openlm(folder)
    assert pts.labels == ["rpj-big", "rpj-small", "rw-small"]
    assert list(pts.loss) == [3.2, 4.1, 4.4] and list(pts.c) == [6 * 1e8 * 2e9, 6 * 1e7 * 2e8, 6 * 1e7 * 2e8]
    assert pts.group == ["rpj", "rpj", "rw_original"] and pts.datasets() == ["rpj", "rw_original"]
    assert pts.notes == ["loss on validation set c4_val", "C = 6ND (open_lm records no FLOP count)"]
    assert list(load_openlm(folder, val_set="open_lm").loss) == [3.0, 3.9, 4.0]


def test_one_training_set_and_a_set_that_is_not_there(folder):
    pts = load_openlm(folder, train_set="rpj")
    assert pts.labels == ["rpj-big", "rpj-small"] and pts.notes[-1] == "training set rpj only"
    with pytest.raises(FitInputError, match=r"no runs trained on c4; the training sets here are rpj, rw_original$"):
        load_openlm(folder, train_set=["rpj", "c4"])


def test_a_file_that_is_no_result_file_is_one_line(folder):
    (folder / "models" / "broken.json").write_text(json.dumps({"name": "broken", "results": []}))
    with pytest.raises(FitInputError, match=r"broken.json: not an open_lm result file \('hyperparameters'\)$"):
        load_openlm(folder)


def test_a_run_without_the_validation_set_is_one_line(folder):
    with pytest.raises(FitInputError, match=r"rpj-big.json: expected one result on validation set 'paloma_c4_en', "
                                            r"found 0$"):
        load_openlm(folder, val_set="paloma_c4_en")
