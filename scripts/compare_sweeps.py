"""Compare two sweeps of the same (shape, budget) grid: loss per point and what each spent.

    python scripts/compare_sweeps.py results/synthetic_isoflop_cpu results/synthetic_isoflop_wsd_cpu \
        --out results/synthetic_isoflop_wsd_cpu/comparison

Runs are matched on their shape and their FLOPs (6ND); a run of either sweep with no match is
listed apart. "Spent" counts what each run really cost: a cooldown branch (harness/run/branches.py)
costs its cooldown only (its record's extra.branch.flops_spent), every other run its whole budget.
Wall time is each record's wall_seconds summed (setup and evaluations included), which on a
machine running several runs at once is the time of one run alone only as far as they did not
compete. Writes <out>.md (tables) and <out>.json (the numbers).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import records


def _key(r: records.RunRecord) -> tuple:
    s = r.shape
    return (s.get("arch"), s.get("n_layer"), s.get("d_model"), s.get("n_head"), float(f"{r.flops['6ND']:.3g}"))


def spent_flops(r: records.RunRecord) -> float:
    branch = (r.extra or {}).get("branch")
    return float(branch["flops_spent"]["6ND"]) if branch else float(r.flops["6ND"])


def compare(a_dir: Path, b_dir: Path) -> dict:
    a = {_key(r): r for r in records.read_sweep(a_dir) if r.status == "completed"}
    b = {_key(r): r for r in records.read_sweep(b_dir) if r.status == "completed"}
    if not a or not b:
        raise ValueError(f"no completed runs in {a_dir if not a else b_dir}")
    shared = sorted(set(a) & set(b), key=lambda k: (k[4], a[k].params["total"]))
    rows = []
    for k in shared:
        ra, rb = a[k], b[k]
        rows.append({"model": ra.config["model"].get("name") or f"L{k[1]}d{k[2]}", "params": ra.params["total"],
                     "flops_6ND": ra.flops["6ND"], "loss_a": ra.val_loss, "loss_b": rb.val_loss,
                     "diff_pct": 100 * (rb.val_loss - ra.val_loss) / ra.val_loss,
                     "branch_b": bool((rb.extra or {}).get("branch"))})

    def totals(runs: dict) -> dict:
        return {"runs": len(runs), "flops_6ND_spent": sum(spent_flops(r) for r in runs.values()),
                "flops_6ND_of_the_points": sum(r.flops["6ND"] for r in runs.values()),
                "wall_seconds": sum(r.wall_seconds for r in runs.values())}

    diffs = [row["diff_pct"] for row in rows]
    return {"a": str(a_dir.name), "b": str(b_dir.name), "rows": rows, "totals_a": totals(a), "totals_b": totals(b),
            "only_a": len(set(a) - set(b)), "only_b": len(set(b) - set(a)),
            "mean_diff_pct": sum(diffs) / len(diffs) if diffs else None,
            "mean_abs_diff_pct": sum(abs(d) for d in diffs) / len(diffs) if diffs else None,
            "max_abs_diff_pct": max((abs(d) for d in diffs), default=None)}


def to_markdown(c: dict) -> str:
    ta, tb = c["totals_a"], c["totals_b"]
    lines = [f"| | {c['a']} | {c['b']} | ratio |", "|---|---|---|---|",
             f"| runs (completed) | {ta['runs']} | {tb['runs']} | |",
             f"| FLOPs spent (6ND) | {ta['flops_6ND_spent']:.3g} | {tb['flops_6ND_spent']:.3g} | "
             f"{tb['flops_6ND_spent'] / ta['flops_6ND_spent']:.1%} |",
             f"| wall time, runs summed | {ta['wall_seconds']:,.0f} s | {tb['wall_seconds']:,.0f} s | "
             f"{tb['wall_seconds'] / ta['wall_seconds']:.1%} |", "",
             f"| model | N | C (6ND) | loss {c['a']} | loss {c['b']} | difference |", "|---|---|---|---|---|---|"]
    for r in c["rows"]:
        lines.append(f"| {r['model']} | {r['params'] / 1e3:.1f}K | {r['flops_6ND']:.3g} | {r['loss_a']:.4f} | "
                     f"{r['loss_b']:.4f}{' (branch)' if r['branch_b'] else ''} | {r['diff_pct']:+.2f}% |")
    if c["rows"]:
        lines.append("")
        lines.append(f"{len(c['rows'])} shared points: mean difference {c['mean_diff_pct']:+.2f}%, mean |difference| "
                     f"{c['mean_abs_diff_pct']:.2f}%, largest {c['max_abs_diff_pct']:.2f}%"
                     + (f"; {c['only_a']} runs only in {c['a']}, {c['only_b']} only in {c['b']}"
                        if c["only_a"] or c["only_b"] else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="the reference sweep folder")
    ap.add_argument("b", type=Path, help="the sweep compared with it")
    ap.add_argument("--out", type=Path, help="write <out>.md and <out>.json")
    args = ap.parse_args(argv)
    try:
        c = compare(args.a, args.b)
    except (ValueError, OSError, records.RecordError) as e:
        print(f"compare_sweeps: {e}", file=sys.stderr)
        return 2
    md = to_markdown(c)
    print(md, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".md").write_text(md)
        args.out.with_suffix(".json").write_text(json.dumps(c, indent=1, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
