"""Does the width ``harness-plan --next`` promises agree with the width the fitter then reports? (issue 20)

    python scripts/planner_calibration.py                        # writes results/planner_calibration/
    python scripts/planner_calibration.py --held-out 3 --studies results/demo --out scratch/cal   # a trial, outside results/

No training: every check is a committed study refitted.

- **now**: the planner's expected width of a study as it stands against the width the fitter
  reports for it.
- **leave one out**: for ``--held-out`` runs spread over each study (by budget, then size), the
  study without run r is the planner's input. Its expected width once r's (N, C) is added is set
  against the fitter's width on the whole study, where r has its measured loss.
- **leave a budget out**: the same with every run of the middle budget, then of the largest (an
  extrapolation for the surrogate), added back at once.
- **round**: results/synthetic_adaptive_cpu/first is the input and each of the study's other
  rounds (its 9 runs plus 3) is added, the 3 runs at once; the round's own fit is what was measured.

Predicted: the planner's own code (``harness.sweep.next_runs.make_scorer``) with its defaults:
approach 3's 95% percentile bootstrap of a over runs, 200 resamples at each of bootstrap seeds 0-3,
added runs simulated by the surrogate with 0.4% seed noise (no committed study has replicate
seeds). Measured: what ``harness-fit <study> --law chinchilla`` reports, approach 3's interval of
a with 1000 resamples (harness-fit's default) at seed 0. Also listed: the delta-method width
--next scored by until issue 20 (``Scorer.screen``). Writes README.md, calibration.csv and
calibration.json under ``--out``; every path in them is relative.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from harness.errors import HarnessError
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.sweep.next_runs import MIN_RUNS, make_scorer
from harness.sweep.runs_so_far import Design, Run, budgets, load_design, same_budget

PROG = "planner_calibration"
STUDIES = ("results/demo", "results/synthetic_isoflop_cpu", "results/synthetic_isoflop_wsd_cpu",
           "results/synthetic_isoflop_decades_cpu")
ADAPTIVE = "results/synthetic_adaptive_cpu"
ROUNDS = ("proposed", "by_hand_shape", "by_hand_budget")
MEASURED_BOOTSTRAP = 1000  # harness-fit's default
TOLERANCE = 0.3  # the "within about 30%"


@dataclass(frozen=True)
class Settings:
    n_bootstrap: int = 200  # the planner's resamples per draw
    draws: int = 4
    held_out: int = 8  # runs left out per study, one at a time
    measured_bootstrap: int = MEASURED_BOOTSTRAP


@dataclass(frozen=True)
class Row:
    study: str  # relative path of the study measured
    case: str  # now | leave one out | round
    added: str  # the runs added, "" for now
    runs_before: int
    predicted: float  # the planner's expected width
    measured: float  # the fitter's reported width with the runs added
    old: float  # the delta-method score --next printed until issue 20
    miss: str  # each added run's measured loss against the surrogate's (simulated mean) loss, e.g. "-0.3%"
    noise: float  # the relative noise the planner simulated the added runs with
    seed_only: float  # the planner's width with the seed noise alone

    @property
    def ratio(self) -> float:
        return self.predicted / self.measured

    @property
    def old_ratio(self) -> float:
        return self.old / self.measured

    @property
    def seed_only_ratio(self) -> float:
        return self.seed_only / self.measured

    @classmethod
    def of(cls, study: str, case: str, added: Sequence[Run], runs_before: int, p: Prediction,
           measured: float) -> Row:
        return cls(study, case, label(added), runs_before, p.width, measured, p.old, p.miss, p.noise, p.seed_only)


@dataclass(frozen=True)
class Prediction:
    width: float  # the planner's expected width once the runs are added
    seed_only: float  # the same with the added runs' noise the seed noise alone (issue 20's first fix)
    old: float  # the delta-method score --next printed until issue 20
    miss: str  # how far each added run's measured loss lies from the loss the planner simulates for it
    noise: float  # the relative noise the planner simulated the added runs with


@dataclass(frozen=True)
class Spread:
    n: int
    median: float
    lo: float
    hi: float
    q1: float
    q3: float
    within: int  # rows whose ratio is within TOLERANCE of 1

    @classmethod
    def of(cls, ratios: Sequence[float]) -> Spread:
        r = np.asarray(ratios, dtype=float)
        q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
        return cls(n=len(r), median=float(med), lo=float(r.min()), hi=float(r.max()), q1=float(q1), q3=float(q3),
                   within=int(np.sum(np.abs(r - 1) <= TOLERANCE)))

    def text(self) -> str:
        return (f"median {self.median:.2f}, quartiles {self.q1:.2f}-{self.q3:.2f}, range {self.lo:.2f}-{self.hi:.2f}; "
                f"{self.within} of {self.n} within {TOLERANCE:.0%}")


def rel(path: str | Path) -> str:
    """A study's path as the written files give it: relative, with forward slashes."""
    p = Path(path)
    return Path(os.path.relpath(p) if p.is_absolute() else p).as_posix()


def measured_width(design: Design, settings: Settings) -> float:
    lo, hi = ChinchillaFit(n_bootstrap=settings.measured_bootstrap, seed=0).fit(design.points).ci_["a"]
    return hi - lo


def held_out(design: Design, k: int) -> list[int]:
    """k run indices spread evenly over the study ordered by budget, then size."""
    order = sorted(range(len(design.runs)), key=lambda i: (design.runs[i].flops, design.runs[i].n))
    if k >= len(order):
        return sorted(order)
    return sorted({order[round(j * (len(order) - 1) / max(k - 1, 1))] for j in range(k)})


def without(design: Design, drop: Sequence[int]) -> Design:
    keep = [i for i in range(len(design.runs)) if i not in set(drop)]
    return Design(points=design.points.subset(np.array(keep)), runs=[design.runs[i] for i in keep],
                  vocab_size=design.vocab_size, seq_len=design.seq_len)


def label(runs: Sequence[Run]) -> str:
    return ", ".join(f"{r.model} at {r.flops:.3g}" for r in runs)


def predict(design: Design, extra: Sequence[Run], loss: Sequence[float], settings: Settings) -> Prediction:
    scorer, method = make_scorer(design, n_bootstrap=settings.n_bootstrap, draws=settings.draws)
    miss = ", ".join(f"{y / scorer.sim.mean_loss(r) - 1:+.1%}" for r, y in zip(extra, loss))
    width = scorer.expected(extra)
    # with no run added nothing is simulated, so the noise cannot matter
    seed_only = scorer.with_noise(method.noise.seed).expected(extra) if extra else width
    return Prediction(width, seed_only, scorer.screen(extra), miss, method.noise.relative)


def study_rows(path: str, settings: Settings) -> list[Row]:
    design = load_design(path)
    measured = measured_width(design, settings)
    n = len(design.runs)
    rows = [Row.of(rel(path), "now", [], n, predict(design, [], [], settings), measured)]
    for i in held_out(design, settings.held_out):
        p = predict(without(design, [i]), [design.runs[i]], [design.points.loss[i]], settings)
        rows.append(Row.of(rel(path), "leave one out", [design.runs[i]], n - 1, p, measured))
        _progress(rows[-1])
    # A whole budget added back at once: inside the budgets kept (the middle one) or past them (the largest).
    cs = budgets(design.runs)
    for case, c in (("leave the middle budget out", cs[len(cs) // 2]), ("leave the largest budget out", cs[-1])):
        drop = [i for i, r in enumerate(design.runs) if same_budget(r.flops, c)]
        if n - len(drop) < MIN_RUNS or len(cs) < 3:
            continue
        extra = [design.runs[i] for i in drop]
        p = predict(without(design, drop), extra, [design.points.loss[i] for i in drop], settings)
        rows.append(Row.of(rel(path), case, extra, n - len(drop), p, measured))
        _progress(rows[-1])
    return rows


def round_rows(adaptive: str, settings: Settings) -> list[Row]:
    first = load_design(Path(adaptive) / "first")
    have = {(r.model, round(r.flops)) for r in first.runs}
    rows = []
    for name in ROUNDS:
        done = load_design(Path(adaptive) / name)
        new = [i for i, r in enumerate(done.runs) if (r.model, round(r.flops)) not in have]
        extra = [done.runs[i] for i in new]
        p = predict(first, extra, [done.points.loss[i] for i in new], settings)
        rows.append(Row.of(rel(Path(adaptive) / name), "round", extra, len(first.runs), p,
                           measured_width(done, settings)))
        _progress(rows[-1])
    return rows


def _progress(row: Row) -> None:
    print(f"{row.study} {row.case} {row.added}: predicted {row.predicted:.3f}, measured {row.measured:.3f}",
          file=sys.stderr, flush=True)


# -- writing ---------------------------------------------------------------------------------
def table(rows: Sequence[Row]) -> list[str]:
    lines = ["| study | case | run(s) added | runs before | measured loss vs surrogate | noise simulated | "
             "predicted width | measured width | ratio | seed noise alone: width (ratio) | old score (ratio) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r.study}` | {r.case} | {r.added or '–'} | {r.runs_before} | {r.miss or '–'} | "
                     f"{r.noise:.2%} | {r.predicted:.3f} | {r.measured:.3f} | **{r.ratio:.2f}** | "
                     f"{r.seed_only:.3f} ({r.seed_only_ratio:.2f}) | {r.old:.3f} ({r.old_ratio:.2f}) |")
    return lines


def summary(rows: Sequence[Row]) -> dict[str, Spread]:
    """The ratio's spread over the rows that add runs, over each case, and the old score's over all."""
    out: dict[str, Spread] = {}
    added = [r for r in rows if r.case != "now"]
    if added:
        out["runs added"] = Spread.of([r.ratio for r in added])
    for case in dict.fromkeys(r.case for r in rows):
        out[case] = Spread.of([r.ratio for r in rows if r.case == case])
    if added:
        out["seed noise alone, runs added"] = Spread.of([r.seed_only_ratio for r in added])
    out["old score, all rows"] = Spread.of([r.old_ratio for r in rows])
    return out


def verdict(s: Spread) -> str:
    ok = abs(s.median - 1) <= TOLERANCE
    return (f"{'Agrees' if ok else 'Does not agree'} within {TOLERANCE:.0%}: the median ratio of predicted to "
            f"measured width is {s.median:.2f}, and {s.within} of {s.n} rows are within {TOLERANCE:.0%}.")


def misses(rows: Sequence[Row]) -> str:
    """The rows outside the tolerance, with how far their runs landed from the surrogate."""
    out = [r for r in rows if abs(r.ratio - 1) > TOLERANCE]
    if not out:
        return f"Every row here is within {TOLERANCE:.0%}."
    return "Outside " + f"{TOLERANCE:.0%}: " + "; ".join(
        f"`{r.study}`, {r.case} (runs {r.miss} off the surrogate, simulated noise {r.noise:.2%}): predicted "
        f"{r.predicted:.3f}, measured {r.measured:.3f}" for r in out) + "."


def readme(rows: Sequence[Row], settings: Settings, command: str, cpu_s: float, wall_s: float) -> str:
    spreads = summary(rows)
    main = spreads.get("runs added") or next(iter(spreads.values()))
    seeds = "0" if settings.draws == 1 else f"0-{settings.draws - 1}"
    old = spreads["old score, all rows"]
    lines = ["# Does `harness-plan --next` promise the width the fitter then reports? (issue 20)", "",
             "```", command, "```", "",
             f"**{verdict(main)}** (over the rows that add runs: every case but *now*.)", "",
             "- **Predicted:** `harness-plan --next`'s expected width of approach 3's 95% interval of a "
             f"(`harness.sweep.next_runs.make_scorer`, its defaults): the fitter's percentile bootstrap over runs, "
             f"{settings.n_bootstrap} resamples at each of bootstrap seeds {seeds}, averaged; the "
             "runs in the input keep their measured losses, an added run gets the surrogate's loss plus its "
             "budget's mean residual, times exp(N(0, s)) noise: s is the seed noise (measured from replicate "
             "seeds where a study has them, else the documented 0.4%) or, where the surrogate misses the runs "
             "in the input by more, its residual scale (rms log residual over n - 5 degrees of freedom). The "
             "column *noise simulated* gives s; *seed noise alone* is the same prediction with s the seed noise.",
             "- **Measured:** what `harness-fit <study> --law chinchilla` reports for the study with the run(s): "
             f"approach 3's 95% percentile bootstrap interval of a, {settings.measured_bootstrap} resamples, seed 0.",
             "- **Cases:** *now* is the study as it stands (the planner's width now); *leave one out* drops "
             f"{settings.held_out} runs spread over each study (by budget, then size), one at a time, and asks the "
             "planner for the width once that run's (N, C) is added back; *leave the middle (largest) budget "
             "out* drops every run of that budget and adds them back at once, inside (past) the budgets kept; "
             f"*round* starts from `{ADAPTIVE}/first` (9 runs) and adds each other round's 3 runs at once, the "
             "runs the study trained next.",
             "- **Old score:** the delta-method width --next scored by until issue 20 (2 × 1.96 σ √(gᵀ(JᵀJ)⁻¹g) at "
             "the surrogate's parameters, σ its rms log residual), kept as the planner's screen of candidates.", "",
             "## Ratio of predicted to measured width", ""]
    for name, s in spreads.items():
        lines.append(f"- {name}: {s.text()}")
    lines += ["", "## Every check", "", *table(rows), "",
              f"CPU time {cpu_s:.0f} s ({wall_s:.0f} s wall) on this machine's 2 cores, other jobs running.", "",
              "## Reading it", "",
              f"- **The old score was too narrow**, by up to {1 / old.lo:.1f}x here (median {1 / old.median:.1f}x; "
              "on `results/demo` the issue's 0.102 after one run, against 0.37-0.47). "
              "Three reasons, all in `Scorer.linear_width` "
              "(`harness/sweep/surrogate.py`): σ was the rms log residual over n runs, not over n - 5 degrees "
              "of freedom (√(12/7) = 1.31 on 12 runs); the Huber fit (δ = 1e-3 on log residuals of ~5e-3) is "
              "close to least absolute deviations, whose spread is ~1.25x least squares'; and on a dozen runs "
              "the percentile bootstrap over runs has heavy tails (a resample without the one run that pins a "
              "direction) that no linearisation at the surrogate's parameters sees. It was also a different "
              "quantity from the one the fitter reports. Its ranking of candidates is still informative, so it "
              "now only screens which candidates get the bootstrap.",
              "- **The predicted width is now the fitter's own interval**, so *now* agrees up to the "
              "bootstrap's seed and resample count (the mean of 4 × 200 resamples against one run of 1000).",
              "- **Why the residual scale and not the seed noise alone:** a run not yet trained misses the "
              "surrogate by the law's misfit where it lands too (the column *measured loss vs surrogate*), and "
              "the fitter sees that. One run among a dozen or more hardly moves the width either way, but a "
              "whole budget simulated with the seed noise alone sits closer to the law than real runs do, and "
              "its width came out as low as half the measured one (compare the two ratio columns).",
              "- **Limit: runs that miss the law systematically.** The prediction still assumes the law holds "
              "where the added runs go, up to that noise. " + misses(rows) + " A new budget past the largest is "
              "an extrapolation, where such a miss is likeliest; read its expected width as the best case "
              "(--next says so when it proposes one).", ""]
    return "\n".join(lines)


def write(rows: Sequence[Row], settings: Settings, out: Path, command: str, cpu_s: float, wall_s: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(readme(rows, settings, command, cpu_s, wall_s), encoding="utf-8")
    buf = io.StringIO()
    columns = [*asdict(rows[0]).keys(), "ratio", "old_ratio", "seed_only_ratio"] if rows else []
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**asdict(r), "ratio": round(r.ratio, 4), "old_ratio": round(r.old_ratio, 4),
                    "seed_only_ratio": round(r.seed_only_ratio, 4)})
    (out / "calibration.csv").write_text(buf.getvalue(), encoding="utf-8")
    doc = {"command": command, "settings": asdict(settings), "cpu_seconds": round(cpu_s, 1),
           "wall_seconds": round(wall_s, 1), "tolerance": TOLERANCE,
           "summary": {k: asdict(v) for k, v in summary(rows).items()},
           "rows": [{**asdict(r), "ratio": r.ratio, "old_ratio": r.old_ratio, "seed_only_ratio": r.seed_only_ratio}
                    for r in rows]}
    (out / "calibration.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def rewrite(out: Path) -> int:
    """The README and CSV again from the JSON (a change of wording needs no new measurement)."""
    try:
        doc = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
        names = [f.name for f in fields(Row)]
        rows = [Row(**{k: r[k] for k in names}) for r in doc["rows"]]
        settings = Settings(**doc["settings"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{PROG}: cannot read {out / 'calibration.json'}: {e}", file=sys.stderr)
        return 2
    write(rows, settings, out, doc["command"], doc["cpu_seconds"], doc["wall_seconds"])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--studies", nargs="*", default=list(STUDIES), help="study folders for now and leave one out")
    ap.add_argument("--adaptive", default=ADAPTIVE, help="the adaptive study's folder ('' to skip its rounds)")
    ap.add_argument("--held-out", type=int, default=Settings.held_out, help="runs left out per study")
    ap.add_argument("--bootstrap", type=int, default=Settings.n_bootstrap, help="the planner's resamples per draw")
    ap.add_argument("--draws", type=int, default=Settings.draws, help="the planner's draws")
    ap.add_argument("--out", default="results/planner_calibration")
    ap.add_argument("--rewrite", action="store_true",
                    help="write README.md and calibration.csv again from --out's calibration.json, fitting nothing")
    args = ap.parse_args(argv)
    if args.rewrite:
        return rewrite(Path(args.out))
    settings = Settings(n_bootstrap=args.bootstrap, draws=args.draws, held_out=args.held_out)
    given = list(argv if argv is not None else sys.argv[1:])
    command = shlex.join(["python", "scripts/planner_calibration.py",
                          *(rel(a) if Path(a).is_absolute() else a for a in given)])
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        rows = [row for s in args.studies for row in study_rows(s, settings)]
        if args.adaptive:
            rows += round_rows(args.adaptive, settings)
    except HarnessError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    if not rows:
        print(f"{PROG}: no study to measure", file=sys.stderr)
        return 2
    write(rows, settings, Path(args.out), command, time.process_time() - c0, time.perf_counter() - t0)
    print("\n".join(table(rows)))
    for name, s in summary(rows).items():
        print(f"{name}: {s.text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
