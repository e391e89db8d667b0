"""The tuning result inside harness-fit: flag the runs being fitted that trained off their tuned
learning rate (``--tuning``), optionally drop them (``--drop-undertuned``) or down-weight them
(``--downweight-undertuned W``: weight W in the laws that take point weights), and a report section.
Kept here so the fitter's own modules change by a few lines only."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from harness import records
from harness.errors import FitInputError, TuningError
from harness.tune.analysis import load_result
from harness.tune.flags import RunFlag, flag_records, summary_lines


def check_weight(weight: float | None, tuning: object, what: str = "--downweight-undertuned") -> None:
    """A weight for flagged runs must lie in (0, 1) and needs a tuning result to flag them."""

    if weight is None:
        return
    if tuning is None:
        raise FitInputError(f"{what} needs a tuning result to flag runs (--tuning / sweep.fit_tuning)")
    if not 0 < weight < 1:
        raise FitInputError(f"{what} {weight:g}: the weight of a flagged run must be in (0, 1)")


def apply_tuning(tuning: str, inputs: Sequence[str], points: Any, drop: bool = False, threshold: float = 0.01,
                 max_ratio: float = 2.0, weight: float | None = None) -> tuple[Any, dict[str, Any], list[str]]:
    """(points, the report's ``tuning`` entry, stdout lines). ``drop`` leaves the flagged runs out;
    ``weight`` (in (0, 1)) gives them that weight instead. Bad input: a one-line FitInputError."""
    if drop and weight is not None:
        raise FitInputError("--drop-undertuned and --downweight-undertuned exclude each other: drop the flagged runs "
                            "or down-weight them")
    check_weight(weight, tuning)

    try:
        result = load_result(tuning)
    except TuningError as e:
        raise FitInputError(str(e)) from None
    flags: list[tuple[str, RunFlag]] = []
    skipped = []
    for path in inputs:
        if not (Path(path) / "runs").is_dir():
            skipped.append(str(path))  # a CSV or open_lm folder: no learning rates to judge
            continue
        recs, _ = records.scan_sweep(path, quarantine_corrupt=False, status="completed")
        flags += [(Path(path).name, f) for f in flag_records(result, recs, threshold, max_ratio)]
    bad = [(sweep, f) for sweep, f in flags if f.flagged]
    lines = summary_lines([f for _, f in flags], result.source)
    if skipped:
        lines.append(f"  (not judged, no run records: {', '.join(skipped)})")
    dropped: list[str] = []
    weighted: list[str] = []
    # A single sweep's points are labelled by run id; concat prefixes the sweep folder's name.
    single = len(inputs) == 1
    gone = {f.run_id if single else f"{sweep}:{f.run_id}" for sweep, f in bad}
    if weight is not None and gone:
        weighted = [lab for lab in points.labels if lab in gone]
        points = points.with_weights({lab: weight for lab in weighted},
                                     f"{len(weighted)} under-tuned run(s) down-weighted to {weight:g} "
                                     f"(--downweight-undertuned, tuning {result.source}; approach2 and chinchilla "
                                     "honour weights)")
        lines.append(f"  down-weighted {len(weighted)} flagged run(s) to {weight:g} in the fit")
    if drop and bad:
        keep = [i for i, lab in enumerate(points.labels) if lab not in gone]
        if not keep:
            raise FitInputError("--drop-undertuned: every run is flagged under-tuned; nothing left to fit")
        dropped = [lab for lab in points.labels if lab in gone]
        points = points.subset(keep)
        points.notes.append(f"{len(dropped)} under-tuned run(s) dropped (--drop-undertuned, tuning {result.source})")
        lines.append(f"  dropped {len(dropped)} flagged run(s) from the fit")
    entry = {"source": result.source, "threshold_nats": threshold, "max_ratio": max_ratio,
             "law": None if result.law is None else {"c": result.law.c, "e": result.law.e},
             "runs": [{"sweep": s, **asdict(f)} for s, f in flags], "dropped": dropped,
             "weighted": weighted, "weight": weight}
    return points, entry, lines


def report_section(entry: dict[str, Any] | None) -> list[str]:
    """Markdown lines for report.md (none without --tuning)."""
    if not entry:
        return []
    runs = entry["runs"]
    bad = [r for r in runs if r["flagged"]]
    law = entry.get("law")
    done = []
    if entry["dropped"]:
        done.append(f"{len(entry['dropped'])} dropped from the fit")
    if entry.get("weighted"):
        done.append(f"{len(entry['weighted'])} down-weighted to {entry['weight']:g} in the fits that take weights "
                    "(approach 2, approach 3)")
    lines = ["## Under-tuned runs", "",
             f"Against the tuning sweep {entry['source']}"
             + (f" (lr*(N) = {law['c']:.3g}·(N/1e5)^{law['e']:.3g})" if law else "")
             + f": a run is flagged when its estimated loss penalty from its learning rate exceeds "
             f"{entry['threshold_nats']:g} nats or its rate is more than x{entry['max_ratio']:g} off the tuned one. "
             f"{len(bad)} of {len(runs)} runs flagged" + "".join(f"; {d}" for d in done) + ".", ""]
    if runs:
        lines += ["| run | shape | N (non-emb) | lr | tuned lr | ratio | est. penalty (nats) | from | flagged |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            tuned = "–" if r["lr_tuned"] is None else f"{r['lr_tuned']:.3g}"
            ratio = "–" if r["ratio"] is None else f"x{r['ratio']:.2g}"
            pen = "–" if r["penalty"] is None else f"{r['penalty']:+.3f}"
            src = r["source"] + (" (extrapolated)" if r["extrapolated"] else "")
            flag = f"**yes**: {r['why']}" if r["flagged"] else "no"
            lines.append(f"| {r['run_id']} | {r['model']} | {r['n']:.3g} | {r['lr']:.3g} | {tuned} | {ratio} | "
                         f"{pen} | {src} | {flag} |")
    lines.append("")
    return lines
