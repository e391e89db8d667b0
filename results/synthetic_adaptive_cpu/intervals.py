"""The 95% bootstrap intervals of a for each round of this study, at several bootstrap seeds.

    python results/synthetic_adaptive_cpu/intervals.py      # from the repository root; writes intervals.json

Why several seeds: on 9-12 runs, approach 3's percentile interval of a moves a lot with the
bootstrap's own seed (on the first design, 200 resamples, seeds 0-3: lower end 0.28, 0.36, 0.49,
0.20), so one seed per round could make either round look better by chance. Each round is refitted
with the fitter's own code and settings (200 resamples, as the sweep's callback) at seeds 0-9; the
table gives the mean width and its range over seeds. Approach 2's interval is given too, with the
share of its resamples that gave a value (it drops a resample that loses a budget's third size).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.fit.api import fit_points
from harness.fit import load_sweep

HERE = Path(__file__).resolve().parent
ROUNDS = ("first", "proposed", "by_hand_shape", "by_hand_budget")
SEEDS = range(10)
BOOT = 200


def main() -> None:
    out: dict[str, dict] = {}
    for name in ROUNDS:
        folder = HERE / name
        if not (folder / "runs").is_dir():
            continue
        pts = load_sweep(folder)
        row: dict[str, dict] = {"runs": len(pts), "flops_6nd": float(np.sum(pts.c))}
        for law in ("chinchilla", "approach2"):
            cis, oks, point = [], [], None
            for seed in SEEDS:
                try:
                    rep = fit_points(pts, [law], bootstrap=BOOT, seed=seed)
                except Exception as e:  # a law these runs cannot support: say so in the table
                    row[law] = {"error": str(e).splitlines()[0]}
                    break
                res = rep.get(law)
                point = res.params["a"]
                ci = res.ci.get("a")
                cis.append(ci if ci else [float("nan")] * 2)
                oks.append(res.details.get("n_bootstrap", BOOT) / BOOT)
            else:
                w = np.array([hi - lo for lo, hi in cis])
                row[law] = {"a": point, "ci_by_seed": cis, "width_mean": float(np.mean(w)),
                            "width_min": float(np.min(w)), "width_max": float(np.max(w)),
                            "resamples_ok_mean": float(np.mean(oks))}
        out[name] = row
    (HERE / "intervals.json").write_text(json.dumps(out, indent=1) + "\n")
    print("| round | runs | 6ND FLOPs | approach 3: a, seed-0 interval | width, mean (min-max) over 10 seeds "
          "| approach 2: a, seed-0 interval | width, mean (min-max) | resamples kept |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in out.items():
        cells = [name, str(row["runs"]), f"{row['flops_6nd']:.3g}"]
        for law in ("chinchilla", "approach2"):
            r = row[law]
            if "error" in r:
                cells += [f"no fit ({r['error']})", "", ""] if law == "approach2" else [f"no fit ({r['error']})", ""]
                continue
            lo, hi = r["ci_by_seed"][0]
            cells += [f"{r['a']:.3f} [{lo:.3f}, {hi:.3f}]",
                      f"{r['width_mean']:.3f} ({r['width_min']:.3f}-{r['width_max']:.3f})"]
            if law == "approach2":
                cells.append(f"{r['resamples_ok_mean']:.0%}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
