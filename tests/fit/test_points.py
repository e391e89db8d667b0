"""Loading points and the CLI's handling of bad input (one line on stderr, exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.fit import main
from harness.fit.loaders import load_csv, load_sweep
from harness.fit.points import Points, concat
from harness.records import CurvePoint, RunRecord, write_record


def _csv(tmp_path, text, name="p.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needle", [
    ("N,loss\n1,2\n", "missing column(s) D or C"),
    ("", "empty"),
    ("N,D,loss\n", "no rows"),
    ("N,D,loss\n1e6,1e8,3.0\n1e6,abc,3.0\n", "row 2 (line 3): D 'abc' is not a number"),
    ("N,D,loss\n1e6,1e8,3.0\n1e6,1e8,-1\n", "row 2 (line 3): loss is '-1'; it must be positive"),
    ("N,D,loss\n1e6,1e8,nan\n", "row 1 (line 2): loss is 'nan', not a finite"),
    ("N,D,loss\n1e6,,3\n", "row 1 (line 2): D is missing"),
    ("N,D,L\n1e6,1e8,3.0\n", "missing column(s) loss"),
    ("N,D,loss\n1e6,1e8,3.0\n1e6,1e8,3.0,7\n", "row 2 (line 3): more fields than the header"),
])
def test_bad_csv_one_line_exit_2(tmp_path, capsys, text, needle):
    assert main([str(_csv(tmp_path, text)), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_folder_with_no_runs(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err


def test_c_column_derives_d(tmp_path):
    pts = load_csv(_csv(tmp_path, "Model Size,FLOP,L\n1e8,6e18,3.0\n"), n_col="Model Size", c_col="FLOP", loss_col="L")
    assert pts.d[0] == pytest.approx(1e10)


def _record(i, n, d, loss, status="completed", bayes=None):
    c = 6.0 * n * d
    curve = [CurvePoint(step=s, tokens=int(d * s / 4), flops={"6ND": c * s / 4}, train_loss=loss + 0.1,
                        val_loss=loss * (1 + 0.2 * (4 - s) / 4), lr=1e-3) for s in (1, 2, 3, 4)]
    return RunRecord(run_id=f"r{i}", status=status, sweep_name="sw", config={"data": {"name": "synthetic"}},
                     shape={}, params={"total": int(n), "embedding": 0, "head": 0, "non_embedding": int(n * 0.9)},
                     tokens=int(d), steps=4, flops={"6ND": c, "6ND_nonemb": c * 0.9, "kaplan": c, "chinchilla": c},
                     val_loss=loss if status == "completed" else None, bayes_loss=bayes, curve=curve, wall_seconds=1.0,
                     tokens_per_second=None, mfu=None, peak_flops=None, device_name="cpu", torch_version="x",
                     git_commit=None, data_fingerprint="f", unique_tokens=None, epochs=None, seed=0,
                     started_at="t", ended_at="t")


@pytest.fixture
def sweep(tmp_path):
    from harness.fit.anchors import EPOCH
    k = 0
    for c in (1e15, 1e16, 1e17):
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 2, 5):
            d = c / (6 * n)
            write_record(_record(k, n, d, float(EPOCH.loss(n, d))), tmp_path)
            k += 1
    write_record(_record(k, 1e6, 1e7, 3.0, status="failed"), tmp_path)
    return tmp_path / "sw"


@pytest.mark.slow
def test_sweep_records_and_api(sweep):
    from harness.fit.api import fit_sweep
    pts = load_sweep(sweep, param_convention="non_embedding")
    assert len(pts) == 15 and "1 run(s) not completed were skipped" in pts.notes
    rep = fit_sweep(sweep, laws=["chinchilla", "approach2", "approach1"], bootstrap=50, holdout=3)
    assert (sweep / "fit.json").exists() and (sweep / "report.md").exists() and (sweep / "plots" / "isoflop.png").exists()
    js = json.loads((sweep / "fit.json").read_text())
    law = {r["law"]: r for r in js["laws"]}
    # Noise-free points from Epoch's law come back as Epoch's exponents; IsoFLOP minima agree.
    assert law["chinchilla"]["params"]["alpha"] == pytest.approx(0.3478, abs=0.01)
    assert law["approach2"]["params"]["a"] == pytest.approx(EPOCH_A, abs=0.05)
    assert law["chinchilla"]["holdout"]["mean_abs_rel_error"] < 0.01
    assert "tokens/param" in rep.headline()


EPOCH_A = 0.3658 / (0.3478 + 0.3658)


@pytest.mark.slow
def test_known_bayes_loss_is_the_floor_beside_fitted_e(tmp_path):
    """Synthetic runs carry their validation set's exact Bayes loss: the fit sets E beside it."""
    from harness.fit.anchors import EPOCH
    from harness.fit.api import fit_sweep
    k = 0
    for c in (1e15, 1e16, 1e17):
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 2, 5):
            d = c / (6 * n)
            write_record(_record(k, n, d, float(EPOCH.loss(n, d)), bayes=EPOCH.E), tmp_path)
            k += 1
    sweep = tmp_path / "sw"
    assert load_sweep(sweep).floor == EPOCH.E
    rep = fit_sweep(sweep, laws=["chinchilla"], bootstrap=50)
    assert json.loads((sweep / "fit.json").read_text())["bayes_loss"] == EPOCH.E
    md = (sweep / "report.md").read_text()
    # Noise-free points of a law whose E is the floor: the fitted E lands on it, inside its interval.
    row = next(line for line in md.splitlines() if line.startswith("| chinchilla |"))
    e_fit = rep.get("chinchilla").params["E"]
    assert e_fit == pytest.approx(EPOCH.E, abs=0.01) and row.endswith("| yes |")
    assert f"exact Bayes loss of the validation set {EPOCH.E:.4g}" in rep.headline()
    # Runs scored against different validation sets have no single floor.
    write_record(_record(k, 1e4, 1e6, 5.0, bayes=1.0), tmp_path)
    assert load_sweep(sweep).floor is None


@pytest.mark.slow  # chinchilla fits (4,500 starts) or a CLI run of the fitter
def test_law_skipped_for_lack_of_data(tmp_path, capsys):
    rows = "\n".join(f"{n},{d},{3 + 1e3 / n ** 0.3 + 1e3 / d ** 0.3}" for n, d in
                     [(1e6 * 2 ** i, 1e8 * 3 ** i) for i in range(8)])
    p = _csv(tmp_path, "N,D,loss\n" + rows + "\n")
    assert main([str(p), "--law", "chinchilla", "--law", "approach2", "--bootstrap", "0", "--json", str(tmp_path / "f.json")]) == 0
    cap = capsys.readouterr()
    # The skip is said where the user looks (the headline on stdout, or a line on stderr).
    assert "approach2: skipped" in cap.out or "skipped approach2" in cap.err
    assert "approach2" in json.loads((tmp_path / "f.json").read_text())["skipped"]


@pytest.mark.slow  # about a second: outside the quick loop
def test_fit_package_does_not_import_training_code():
    import subprocess
    import sys
    code = ("import sys, harness.cli.fit, harness.fit.api, harness.fit.report; "
            "bad=[m for m in sys.modules if m.startswith(('harness.run.train','harness.model','harness.data','torch'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def _epoch_csv(tmp_path, name, cs, seed):
    from harness.fit.anchors import EPOCH
    rng = np.random.default_rng(seed)
    rows = []
    for c in cs:
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 2, 5):
            d = c / (6 * n)
            rows.append(f"{n:.6g},{d:.6g},{EPOCH.loss(n, d) * np.exp(rng.normal(0, 0.002)):.6g}")
    return _csv(tmp_path, "N,D,loss\n" + "\n".join(rows) + "\n", name)


LAW_KEYS = {"law", "n_points", "params", "ci", "allocation", "predictions", "holdout", "objective", "converged"}


@pytest.mark.slow  # fits every law with every output
def test_cli_two_csvs_with_every_reporting_option(tmp_path, capsys):
    a = _epoch_csv(tmp_path, "a.csv", (1e16, 1e17), seed=0)
    b = _epoch_csv(tmp_path, "b.csv", (1e18,), seed=1)
    out = tmp_path / "fit.json"
    assert main([str(a), str(b), "--law", "chinchilla", "--law", "kaplan", "--bootstrap", "30", "--holdout", "3",
                 "--at-flops", "1e18,1e21", "--predict", "C=1e21", "--predict", "N=1e9,D=2e10",
                 "--inference-tokens", "1e12", "--json", str(out)]) == 0
    js = json.loads(out.read_text())
    assert js["n_points"] == 15 and js["source"] == f"{a} + {b}"
    laws = {r["law"]: r for r in js["laws"]}
    assert set(laws) == {"chinchilla", "kaplan"}
    for r in laws.values():
        assert LAW_KEYS <= set(r), set(r) ^ LAW_KEYS
        assert r["n_points"] == 15 and r["holdout"]["k"] == 3
        assert all(len(v) == 2 for v in r["ci"].values()) and r["ci"]
    ch = laws["chinchilla"]
    alloc = ch["allocation"]
    assert {"a", "b", "G", "tokens_per_param"} <= set(alloc)
    # The allocation is given at the largest measured budget (1e18) and at each --at-flops budget.
    assert set(alloc["tokens_per_param"]) == {"1e+18", "1e+21"}
    p = ch["params"]
    tpp = (1e21 / 6) ** p["b"] / p["G"] / (p["G"] * (1e21 / 6) ** p["a"])
    assert alloc["tokens_per_param"]["1e+21"] == pytest.approx(tpp, rel=1e-9)
    by_c = {round(pr["c"]): pr for pr in ch["predictions"]}
    at_c = by_c[round(1e21)]
    # C= picks the compute-optimal N and D for that budget and gives the loss with a band.
    assert at_c["n"] * at_c["d"] * 6 == pytest.approx(1e21, rel=1e-9)
    assert at_c["lo"] <= at_c["loss"] <= at_c["hi"]
    assert by_c[round(6 * 1e9 * 2e10)]["n"] == 1e9
    inf = ch["details"]["inference_optimum"]
    assert inf["inference_tokens"] == 1e12 and inf["n"] < inf["chinchilla_n"]
    # Kaplan has no C = 6ND allocation but does predict at an explicit N, D.
    assert [pr["n"] for pr in laws["kaplan"]["predictions"]] == [1e9]
    assert "tokens/param at C=1e+21" in capsys.readouterr().out


def test_cli_csv_and_sweep_dir_together(tmp_path, sweep, capsys):
    a = _epoch_csv(tmp_path, "a.csv", (1e18,), seed=2)
    out = tmp_path / "f.json"
    # A CSV that names no data set is not pooled with a sweep's runs by a one-data-set law ...
    assert main([str(a), str(sweep), "--law", "kaplan", "--bootstrap", "0"]) == 2
    assert "2 data sets (a.csv and synthetic)" in capsys.readouterr().err
    # ... but one whose group column names the sweep's data set is.
    lines = a.read_text().splitlines()
    a.write_text("\n".join([lines[0] + ",data"] + [row + ",synthetic" for row in lines[1:]]) + "\n")
    assert main([str(a), str(sweep), "--group-col", "data", "--law", "approach1", "--law", "kaplan",
                 "--bootstrap", "50", "--json", str(out)]) == 0
    laws = {r["law"]: r for r in json.loads(out.read_text())["laws"]}
    assert laws["kaplan"]["n_points"] == 5 + 15
    # The sweep's training curves are used for the envelope; the CSV's points have none.
    assert laws["approach1"]["details"]["from_curves"] is True
    assert laws["approach1"]["ci"]["a"][0] <= laws["approach1"]["params"]["a"] <= laws["approach1"]["ci"]["a"][1]
    # Several inputs: nothing is written into the sweep directory.
    assert not (sweep / "fit.json").exists()


@pytest.mark.parametrize("args, needle", [
    (["--at-flops", "1e18,lots"], "--at-flops: 'lots' is not a number"),
    (["--predict", "C=-5"], "C must be positive"),
    (["--predict", "N=1e9"], "give either N and D, or C alone"),
    (["--bootstrap", "-1"], "must not be negative"),
])
def test_cli_bad_options_one_line_exit_2(tmp_path, capsys, args, needle):
    a = _epoch_csv(tmp_path, "a.csv", (1e16, 1e17), seed=0)
    assert main([str(a), "--law", "approach2", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


def test_console_script_bad_row_no_traceback(tmp_path):
    import subprocess
    import sys
    p = _csv(tmp_path, "N,D,loss\n1e6,1e8,3.0\n1e6,1e8,nan\n")
    r = subprocess.run([sys.executable, "-m", "harness.cli.fit", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"harness-fit: error: {p}: row 2 (line 3): loss is 'nan', not a finite number"]


# --- a byte-order mark, and compute in the points' own convention ---------------------------------

def test_csv_with_byte_order_mark_is_read(tmp_path):
    """Spreadsheets save UTF-8 with a BOM; before, the first column read as '\\ufeffN' and was 'missing'."""
    p = tmp_path / "bom.csv"
    p.write_bytes("N,D,loss\n1e6,1e8,3.0\n2e6,1e8,2.9\n".encode("utf-8-sig"))
    pts = load_csv(p)
    assert pts.n.tolist() == [1e6, 2e6] and pts.loss.tolist() == [3.0, 2.9]


def test_csv_with_n_d_and_c_keeps_its_own_c(tmp_path):
    """Each row's C/(N·D) is what it is (here 8 and 10, not 6); between sizes it is linear in log N."""
    p = _csv(tmp_path, "N,D,C,loss\n1e6,1e8,8e14,3.0\n1e8,1e8,1e17,2.5\n")
    pts = load_csv(p)
    assert pts.c.tolist() == [8e14, 1e17]
    assert pts.flops_per_token([1e6, 1e7, 1e8]).tolist() == pytest.approx([8.0, 9.0, 10.0])
    assert pts.flops_per_token([1e3, 1e12]).tolist() == pytest.approx([8.0, 10.0])  # flat beyond the ends
    assert float(pts.tokens_for(9e15, 1e7)) == pytest.approx(1e8)
    assert float(pts.compute_for(1e7, 1e8)) == pytest.approx(9e15)
    # A CSV with N and D alone is 6ND; with N and C alone D = C/(6N): 6 either way.
    assert load_csv(_csv(tmp_path, "N,D,loss\n1e6,1e8,3\n2e6,1e8,2.9\n", "nd.csv")).flops_per_token(1.5e6) == pytest.approx(6.0)
    assert load_csv(_csv(tmp_path, "N,C,loss\n1e6,6e14,3\n", "nc.csv")).flops_per_token(1e6) == pytest.approx(6.0)


KAPLAN_STUDY = Path(__file__).resolve().parents[2] / "results" / "eltec_kaplan_cpu"


def test_flops_per_token_under_kaplan_count_follows_the_runs_shapes():
    """results/eltec_kaplan_cpu with Kaplan's count and non-embedding N: C/(N·D) runs 1.17x6 to 2.24x6.

    Kaplan et al. 2020, Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn per token, training 3x
    that, so C/(N·D) = 6 (1 + n_layer n_ctx d_attn / N) for each run's own shape.
    """
    from harness.records import read_sweep
    pts = load_sweep(KAPLAN_STUDY, param_convention="non_embedding", flops_convention="kaplan")
    for r in read_sweep(KAPLAN_STUDY):
        s, n = r.shape, r.params["non_embedding"]
        assert float(pts.flops_per_token(n)) == pytest.approx(6 * (1 + s["n_layer"] * s["seq_len"] * s["d_model"] / n), rel=1e-9)
    sizes = np.unique(pts.n)
    assert pts.flops_per_token(sizes[0]) / 6 == pytest.approx(2.243, abs=1e-3)
    assert pts.flops_per_token(sizes[-1]) / 6 == pytest.approx(1.165, abs=1e-3)
    # Between two sizes: linear in log N; below the smallest and above the largest: flat.
    mid = np.sqrt(sizes[0] * sizes[1])
    assert float(pts.flops_per_token(mid)) == pytest.approx(np.mean(pts.flops_per_token(sizes[:2])), rel=1e-9)
    assert float(pts.flops_per_token(sizes[0] / 10)) == float(pts.flops_per_token(sizes[0]))
    # D and C convert with the runs' own ratio: a run's (N, D) gives back its recorded C.
    assert pts.compute_for(pts.n, pts.d) == pytest.approx(pts.c, rel=1e-9)
    assert pts.tokens_for(pts.c, pts.n) == pytest.approx(pts.d, rel=1e-9)
    # The same study counted as 6ND with total N is exactly 6.
    assert load_sweep(KAPLAN_STUDY).flops_per_token(sizes) == pytest.approx(np.full(len(sizes), 6.0), rel=1e-12)


def test_flops_per_token_survives_subset_and_concat():
    pts = load_sweep(KAPLAN_STUDY, param_convention="non_embedding", flops_convention="kaplan")
    small = pts.subset(np.flatnonzero(pts.n < 3e4))
    assert float(small.flops_per_token(1e6)) == pytest.approx(float(pts.flops_per_token(pts.n[pts.n < 3e4].max())))
    both = concat([pts, Points.from_arrays([1e7], [1e8], [3.0])])
    assert float(both.flops_per_token(1e7)) == pytest.approx(6.0)
    assert float(both.flops_per_token(pts.n.min())) == pytest.approx(float(pts.flops_per_token(pts.n.min())))
