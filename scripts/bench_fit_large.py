"""Fit thousands of points in bounded memory: wall time, peak memory and accuracy of ``harness-fit``.

Synthetic points of a known Chinchilla law (Epoch's replication of Hoffmann et al.: E 1.8172,
A 482.01, B 2085.43, alpha 0.3478, beta 0.3658) on 20 IsoFLOP budgets from 1e17 to 1e21 FLOPs,
tokens per parameter log-uniform over [1, 1000], log loss with Gaussian noise of sd 0.003, are
written to a CSV in a temporary folder and fitted by ``harness-fit`` in a child process, once per
size: approach 3 alone (``--law chinchilla``, the default 1,000 resamples) at each of ``--rows``,
and the default fit (every default law, default bootstrap) at each of ``--default-at``. Each child's
wall time and peak resident memory (its own ``getrusage``, through ``os.wait4``) are recorded with
the fitted parameters, their 95% intervals and whether each interval holds the truth, and the
fit's notes on what it ran on a subsample (``details["subsample"]``).

``--compare-bootstrap K`` also fits K points (default 5,000) in this process twice from the same
optimum, with the bag of little bootstraps the fitter uses above 2,000 points and with the ordinary
bootstrap over all K points, and records the ratio of each interval's width (little / ordinary).

Writes results/bench/fit_large_bench.json and .md, naming the CPU and the load average: the machine
is shared, and a fit timed under a load of 6 on 2 cores is not a 2-core timing. One fit runs at a time.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from harness.fit.allocation import LawParams
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.points import Points
from harness.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench" / "fit_large_bench"
TRUTH = LawParams(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
NOISE = 0.003
BUDGETS = np.geomspace(1e17, 1e21, 20)
PARAMS = ("E", "A", "B", "alpha", "beta", "a", "b")
# The child runs the command as ``harness-fit`` would, from this interpreter (no PATH needed).
FIT = "import sys; from harness.cli.fit import main; sys.exit(main(sys.argv[1:]))"


def synthetic(rows: int, seed: int = 0) -> Points:
    """``rows`` points of TRUTH, as evenly over the budgets as ``rows`` allows."""
    rng = np.random.default_rng(seed)
    c = BUDGETS[np.arange(rows) % len(BUDGETS)]
    tpp = np.exp(rng.uniform(0.0, math.log(1000.0), rows))
    n = np.sqrt(c / (6 * tpp))
    d = c / (6 * n)
    loss = TRUTH.loss(n, d) * np.exp(rng.normal(0.0, NOISE, rows))
    return Points(n=n, d=d, c=c, loss=loss, labels=[f"p{i}" for i in range(rows)])


def write_csv(pts: Points, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["N", "D", "loss"])
        for row in zip(pts.n, pts.d, pts.loss):
            w.writerow([repr(float(v)) for v in row])


def truth_of(name: str) -> float:
    return float(getattr(TRUTH, name))


def run_child(args: list[str], folder: Path) -> dict:
    """harness-fit with ``args`` in a child process: wall and CPU seconds, peak RSS (MB), exit status,
    and the last lines of its stderr (the temporary folder's name left out)."""
    err_path = folder / "stderr.txt"
    with (folder / "stdout.txt").open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", FIT, *args], cwd=ROOT, stdout=out, stderr=err)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the largest child so far).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = err_path.read_text().replace(str(folder), "<tmp>").strip().splitlines()[-3:]
    return {"wall_seconds": round(wall, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit_status": proc.returncode, "stderr_tail": tail}


def law_summary(law: dict) -> dict:
    """A fit.json law entry, set against the truth where it is approach 3."""
    out = {"law": law["law"], "warnings": [w for w in law["warnings"] if w.startswith("SUBSAMPLED")],
           "subsample": law["details"].get("subsample", []), "n_bootstrap": law["details"].get("n_bootstrap")}
    if law["law"] == "chinchilla":
        p, ci = law["params"], law["ci"]
        out["params"] = {k: p[k] for k in PARAMS}
        out["ci"] = {k: ci.get(k) for k in PARAMS}
        out["relative_error"] = {k: (p[k] - truth_of(k)) / truth_of(k) for k in PARAMS}
        out["truth_inside_ci"] = {k: bool(ci.get(k) and ci[k][0] <= truth_of(k) <= ci[k][1]) for k in PARAMS}
    return out


def fit_rows(rows: int, folder: Path, default_laws: bool) -> dict:
    csv_path = folder / f"points_{rows}.csv"
    if not csv_path.exists():
        write_csv(synthetic(rows), csv_path)
    tag = "default" if default_laws else "chinchilla"
    json_path, report = folder / f"fit_{rows}_{tag}.json", folder / f"report_{rows}_{tag}.md"
    args = [str(csv_path), "--json", str(json_path), "--report", str(report)]
    if not default_laws:
        args += ["--law", "chinchilla"]
    print(f"{rows:,} rows, {'default laws' if default_laws else 'chinchilla'}: fitting ...", flush=True)
    res = {"rows": rows, "laws_asked": "default" if default_laws else ["chinchilla"],
           "command": "harness-fit points.csv" + ("" if default_laws else " --law chinchilla") + " --json fit.json "
                      "--report report.md", **run_child(args, folder)}
    if res["exit_status"] == 0:
        fit = json.loads(json_path.read_text())
        res["laws"] = [law_summary(law) for law in fit["laws"]]
        res["skipped"] = fit["skipped"]
        text = report.read_text()
        res["report_says_subsampled"] = "SUBSAMPLED" in text
    print(f"  {res['wall_seconds']} s, peak RSS {res['peak_rss_mb']} MB, exit {res['exit_status']}", flush=True)
    return res


def compare_bootstrap(rows: int, n_boot: int) -> dict:
    """Interval widths of the bag of little bootstraps against the ordinary bootstrap on ``rows`` points,
    both refitted from the same full-data optimum and local optima."""
    pts = synthetic(rows)
    print(f"bootstrap comparison on {rows:,} rows ...", flush=True)
    t0 = time.perf_counter()
    little = ChinchillaFit(n_bootstrap=n_boot, seed=0).fit(pts)
    t_little = time.perf_counter() - t0
    # The same starts, so only the bootstrap differs: the optimum and the local optima the first fit found.
    grid = np.vstack([little.theta_[None, :], little._local_optima])
    t0 = time.perf_counter()
    ordinary = ChinchillaFit(n_bootstrap=n_boot, seed=0, grid=grid, subsample_points=rows).fit(pts)
    t_ordinary = time.perf_counter() - t0
    keys = ("E", "A", "B", "alpha", "beta", "a")
    return {
        "rows": rows, "n_bootstrap": n_boot,
        "little": {"subsample": little.details_.get("subsample"), "ci": {k: little.ci_[k] for k in keys},
                   "seconds_with_grid": round(t_little, 1)},
        "ordinary": {"ci": {k: ordinary.ci_[k] for k in keys}, "seconds": round(t_ordinary, 1)},
        "same_optimum": {k: abs(little.params_[k] - ordinary.params_[k]) / abs(ordinary.params_[k]) for k in keys},
        "width_ratio_little_over_ordinary": {
            k: (little.ci_[k][1] - little.ci_[k][0]) / (ordinary.ci_[k][1] - ordinary.ci_[k][0]) for k in keys},
        "truth_inside": {"little": {k: little.ci_[k][0] <= truth_of(k) <= little.ci_[k][1] for k in keys},
                         "ordinary": {k: ordinary.ci_[k][0] <= truth_of(k) <= ordinary.ci_[k][1] for k in keys}},
    }


def load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def markdown(out: dict) -> str:
    hw = out["hardware"]
    lines = [f"# Fitting thousands of points: `harness-fit` time and memory ({hw['cpu']}, {hw['cores']} cores)", "",
             f"`python scripts/bench_fit_large.py`, {out['date']}. Synthetic points of Epoch's Chinchilla law "
             f"(E {TRUTH.E}, A {TRUTH.A}, B {TRUTH.B}, alpha {TRUTH.alpha}, beta {TRUTH.beta}), 20 budgets "
             f"1e17-1e21, tokens per parameter 1-1000, log-loss noise sd {NOISE}; default bootstrap (1,000). "
             f"Load average at start/end: {out['load_average_1_5_15min']['before']} / "
             f"{out['load_average_1_5_15min']['after']}. Wall time and peak RSS of each `harness-fit` process.", "",
             "| rows | laws | wall s | CPU s | peak RSS MB | alpha | beta | E | a | truth in 95% CI | subsampled |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["runs"]:
        ch = next((x for x in r.get("laws", []) if x["law"] == "chinchilla"), None)
        names = "default: " + ", ".join(x["law"] for x in r.get("laws", [])) if r["laws_asked"] == "default" else "chinchilla"
        if ch is None:
            lines.append(f"| {r['rows']:,} | {names} | {r['wall_seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']} | "
                         f"exit {r['exit_status']} | | | | | |")
            continue
        p = ch["params"]
        inside = sum(ch["truth_inside_ci"].values())
        sub = "; ".join(f"{s['step']}: {s['points']:,} of {s['of']:,}" for x in r["laws"] for s in x["subsample"]) or "no"
        lines.append(f"| {r['rows']:,} | {names} | {r['wall_seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']} | "
                     f"{p['alpha']:.4f} | {p['beta']:.4f} | {p['E']:.4f} | {p['a']:.4f} | {inside} of {len(PARAMS)} | {sub} |")
    lines += ["", f"Truth: alpha {TRUTH.alpha}, beta {TRUTH.beta}, E {TRUTH.E}, a {TRUTH.a:.4f}."]
    cmp_ = out.get("bootstrap_comparison")
    if cmp_:
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in cmp_["width_ratio_little_over_ordinary"].items())
        lines += ["", f"Bag of little bootstraps against the ordinary bootstrap on {cmp_['rows']:,} rows "
                      f"({cmp_['n_bootstrap']} resamples each, from the same optimum): interval width ratio "
                      f"little / ordinary: {ratios}. The ordinary bootstrap took {cmp_['ordinary']['seconds']} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="2000,5000,20000", help="sizes fitted with --law chinchilla (comma-separated)")
    ap.add_argument("--default-at", default="20000", help="sizes fitted with the default laws ('' for none)")
    ap.add_argument("--compare-bootstrap", type=int, default=0, metavar="K",
                    help="also compare the little and the ordinary bootstrap on K rows (0: not)")
    ap.add_argument("--compare-resamples", type=int, default=1000, help="resamples of that comparison")
    ap.add_argument("--out", default=str(OUT), help="path of the results, without .json / .md")
    args = ap.parse_args(argv)
    rows = [int(x) for x in args.rows.split(",") if x.strip()]
    default_at = [int(x) for x in args.default_at.split(",") if x.strip()]
    out: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "truth": {**TRUTH.as_dict(), "a": TRUTH.a, "b": TRUTH.b}, "noise_sd_log_loss": NOISE,
                 "budgets": [float(c) for c in BUDGETS], "tokens_per_param": [1, 1000], "runs": []}
    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        for r in rows:
            out["runs"].append(fit_rows(r, Path(tmp), default_laws=False))
        for r in default_at:
            out["runs"].append(fit_rows(r, Path(tmp), default_laws=True))
    if args.compare_bootstrap:
        out["bootstrap_comparison"] = compare_bootstrap(args.compare_bootstrap, args.compare_resamples)
    out["load_average_1_5_15min"] = {"before": before, "after": load()}
    out["hardware"] = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0],
                       "numpy": np.__version__}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown(out))
    print(markdown(out))
    return 0 if all(r["exit_status"] == 0 for r in out["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
