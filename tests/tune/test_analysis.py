"""The tuning step (harness/tune/): optima per shape, lr*(N), the preset, under-tuned flags."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.cli.tune import main as tune_main
from harness.tune.analysis import (
    GridPoint,
    analyse_records,
    fit_shape,
    load_result,
    load_tuning_sweep,
)
from tests.tuning_helpers import (
    SHAPES,
    TRUE_E,
    loss_at,
    lr_star,
    write_run,
    write_tuning_sweep,
)


def test_parabola_recovers_a_known_optimum_with_noise() -> None:
    rng = np.random.default_rng(3)
    n = 57_000
    lrs = [lr_star(n) * m * 1.3 for m in (0.25, 0.5, 1, 2, 4)]  # the optimum off the grid's points
    pts = [GridPoint(lr=lr, loss=loss_at(n, lr) + rng.normal(0, 0.002), run_id=str(i)) for i, lr in enumerate(lrs)]
    f = fit_shape(pts, noise=0.002, rng=np.random.default_rng(0))
    assert f["edge"] is None
    assert abs(math.log(f["lr_opt"] / lr_star(n))) < math.log(1.25)
    lo, hi = f["lr_ci"]
    assert lo < f["lr_opt"] < hi and lo < lr_star(n) * 1.3 and hi > lr_star(n) / 1.3
    assert f["curvature"] == pytest.approx(0.02, rel=0.3)


def test_edge_of_grid_is_flagged_and_extended(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "tune"
    write_tuning_sweep(sweep, centre_off={"s5": 8.0})  # s5's grid sits x8 above its optimum
    assert tune_main([str(sweep), "--extend", "--no-plots", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "EDGE (low)" in out and "s5" in out
    assert "model=s5 optim.lr=" in out
    res = load_result(sweep)
    s5 = next(s for s in res.shapes if s.model == "s5")
    assert s5.edge == "low" and s5.lr_ci[0] is None
    assert "s5" not in res.law.shapes  # an edge optimum does not feed lr*(N)


def test_power_law_and_written_preset(tmp_path: Path) -> None:
    sweep = tmp_path / "tune"
    write_tuning_sweep(sweep)
    assert tune_main([str(sweep), "--no-plots", "--bootstrap", "100", "--preset", "tuned_test"]) == 0
    res = load_result(sweep / "tuning.json")
    assert all(s.edge is None for s in res.shapes)
    assert res.law.e == pytest.approx(TRUE_E, abs=0.03)
    assert res.law.e_ci[0] <= TRUE_E <= res.law.e_ci[1]
    text = (sweep / "conf" / "sweep" / "hparams" / "tuned_test.yaml").read_text()
    assert text.startswith("# @package _global_") and "harness-tune" in text and "/tmp" not in text
    assert (sweep / "tuning.md").read_text().count("| s") >= 5


def test_written_preset_loads_with_hydra_and_gives_the_tuned_rates(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs, to_config
    from harness.shapes.resolvers import register_resolvers
    from harness.shapes.rules import non_embedding_params
    from tests.helpers import CONF

    sweep = tmp_path / "tune"
    write_tuning_sweep(sweep)
    assert tune_main([str(sweep), "--no-plots", "--bootstrap", "20", "--preset", "tuned_test"]) == 0
    law = load_result(sweep).law
    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = to_config(compose("config", overrides=[
            "model=ladder_s", "+sweep/hparams=tuned_test", f"hydra.searchpath=[file://{sweep / 'conf'}]"]))
        # a sweep whose defaults already name hparams swaps it for the tuned one
        in_sweep = to_config(compose("config", overrides=[
            "model=ladder_s", "sweep=demo", "sweep/hparams@hparams=tuned_test",
            f"hydra.searchpath=[file://{sweep / 'conf'}]"]))
    n = non_embedding_params(cfg.model)
    assert cfg.optim.lr == pytest.approx(law.lr(n), rel=0.01)
    assert cfg.optim.lr == pytest.approx(lr_star(n), rel=0.15)
    assert in_sweep.optim.lr == cfg.optim.lr


@pytest.mark.slow  # about a second: outside the quick loop
def test_lr_x_resolver_follows_the_shape() -> None:
    from harness.shapes.rules import lr_rule, non_embedding_params
    from tests.helpers import make_config

    for model in ("ladder_xs", "ladder_m"):
        base = make_config([f"model={model}", "+sweep/hparams=porian"])
        half = make_config([f"model={model}", "+sweep/hparams=porian", "optim.lr=${hp.lr_x:0.5,6e-3,-0.36}"])
        assert base.optim.lr == lr_rule(non_embedding_params(base.model), 6e-3, -0.36)
        assert half.optim.lr == pytest.approx(base.optim.lr / 2, rel=0.01)


def test_diverged_run_above_the_best_closes_the_grid(tmp_path: Path) -> None:
    sweep = tmp_path / "tune"
    name, d, n = SHAPES[2]
    lrs = [lr_star(n) * m for m in (0.25, 0.5, 1, 2)]
    for i, lr in enumerate(lrs):
        write_run(sweep, f"r{i}", name, d, n, lr, loss_at(n, lr) if i < 3 else None,
                  status="completed" if i < 3 else "diverged")
    res = analyse_records(load_tuning_sweep(sweep), "tune", n_boot=20)
    s = res.shapes[0]
    assert s.edge is None and any("diverged" in note for note in s.notes)


@pytest.mark.parametrize("content, match", [
    ("{not json", "not JSON"),
    ('{"schema": "other"}', "not a tuning result"),
    ('{"schema": "harness-tuning/1", "shapes": [{"key": 1}]}', "malformed tuning result"),
])
def test_bad_tuning_file_is_one_line_and_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 content: str, match: str) -> None:
    from harness.cli.fit import main as fit_main

    bad = tmp_path / "tuning.json"
    bad.write_text(content)
    sweep = tmp_path / "fitme"
    write_tuning_sweep(sweep)
    rc = fit_main([str(sweep), "--tuning", str(bad), "--law", "chinchilla", "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert rc != 0
    assert match in err and str(bad) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_tune_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tune_main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not a sweep folder" in err and len(err.strip().splitlines()) == 1
    sweep = tmp_path / "tune"
    write_tuning_sweep(sweep)
    assert tune_main([str(sweep), "--reference", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_a_beta2_axis_gives_one_curve_per_setting_and_the_law_takes_the_best(tmp_path: Path) -> None:
    sweep = tmp_path / "tune"
    for name, d, n in SHAPES[:3]:
        for m in (0.25, 0.5, 1, 2, 4):
            lr = float(f"{lr_star(n) * m:.3g}")
            write_run(sweep, f"{name}-{m:g}-a", name, d, n, lr, loss_at(n, lr), beta2=0.95)
            # beta2 0.99 here: a worse loss at an optimum x2 lower, which lr*(N) must not take
            write_run(sweep, f"{name}-{m:g}-b", name, d, n, lr, loss_at(n, lr * 2) + 0.05, beta2=0.99)
    res = analyse_records(load_tuning_sweep(sweep), "tune", n_boot=20)
    assert len(res.shapes) == 6 and all("beta2=" in s.key for s in res.shapes)
    assert res.law.e == pytest.approx(TRUE_E, abs=0.05)


def test_planner_refuses_a_bad_tuning_file_in_one_line(tmp_path: Path) -> None:
    from harness.errors import SweepError
    from harness.tune.flags import flag_planned

    # harness-plan prints a SweepError as "harness-plan: <message>" and exits 2
    with pytest.raises(SweepError, match="no tuning result there"):
        flag_planned(str(tmp_path / "nothing"), [])
    (tmp_path / "t.json").write_text("[1, 2]")
    with pytest.raises(SweepError, match="t.json: not a tuning result"):
        flag_planned(str(tmp_path / "t.json"), [])


def test_a_rate_on_the_wall_of_instability_does_not_drag_the_vertex() -> None:
    from harness.tune.analysis import GridPoint, fit_shape

    # ladder_2xs of results/synthetic_lr_tuning_cpu: a noisy bowl, then a jump of half a nat at x16.
    lrs = [0.00245, 0.00491, 0.00982, 0.0196, 0.0393, 0.0787, 0.157]
    losses = [1.9392, 1.8292, 1.7792, 1.7947, 1.7629, 1.8037, 2.3261]
    out = fit_shape([GridPoint(lr=a, loss=b, run_id=f"r{k}") for k, (a, b) in enumerate(zip(lrs, losses))])
    assert out["fitted_on"] == 4  # x1 .. x8: the x16 point is 0.56 nats above the best
    assert abs(out["loss_opt"] - min(losses)) < 0.02  # the bowl's bottom, not far below every measured loss
    assert 0.0196 < out["lr_opt"] < 0.0393
