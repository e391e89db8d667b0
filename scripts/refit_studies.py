"""Refit every committed study with the current fitter, each with the settings it was fitted with.

    python scripts/refit_studies.py                 # every study below
    python scripts/refit_studies.py demo eltec_isoflop_cpu
    python scripts/refit_studies.py --list          # the studies and their harness-fit arguments

A change to a law (approach 2's vertex finder, a pinned E beside the free one) changes what every
committed fit.json would say. This reruns ``harness-fit`` on each study's records, writing fit.json,
report.md and plots/ where the study keeps them, and beside it ``fit_vertex_global.json``:
approach 2 alone with Hoffmann's one parabola per budget, vertices unweighted, the finder every
study was written with before issue 20, so the prose of its README can be read against it. Then
run ``python scripts/cost_curve.py`` and ``python scripts/results_tables.py`` (in that order: the
pages quote the cost table) to regenerate the pages' tables.

The arguments are each study's own, as its README gives them (the sweep callback's bootstrap and
holdout where the study was fitted by its sweep). A study whose fit is not the fitter's default
(e.g. eltec_kaplan_cpu's conventions) says so here. A study whose records are missing is one line
on stderr and exit status 2; the studies before it keep their refit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.cli.fit import main as harness_fit

ROOT = Path(__file__).resolve().parents[1]
# Relative to ROOT, where main() runs: fit.json and report.md name their inputs, and a committed
# file never names a path outside the repository.
RESULTS = Path("results")
PROG = "refit_studies"
GLOBAL = "fit_vertex_global.json"


@dataclass(frozen=True)
class Study:
    name: str  # the folder the fit is written to, under results/
    args: tuple[str, ...]  # harness-fit's arguments besides the input and the outputs
    runs: str = ""  # the folder whose records are fitted, if not ``name``
    compare_global: bool = True  # write fit_vertex_global.json beside it

    def source(self) -> Path:
        return RESULTS / (self.runs or self.name)

# The run ids of synthetic_curves_wsd_cpu's five trunks (the runs whose cooldown branches are the others).
CURVE_TRUNKS = ("d5a81a7798c670a3", "4d8aba1d0686bd5e", "05f805c25158bb4d", "20e7928047eb4ef5", "baa68219bd98014b")

STUDIES = (
    Study("demo", ("--bootstrap", "100", "--holdout", "3")),
    Study("demo_porian_cpu", ("--bootstrap", "100", "--holdout", "3")),
    Study("demo_next_cpu", ("--bootstrap", "100", "--holdout", "3")),  # the demo's sweep callback settings
    Study("demo_wsd_cpu", ("--bootstrap", "100", "--holdout", "4")),  # its preset's callback settings
    Study("demo_span_cpu", ("--bootstrap", "100", "--holdout", "3")),  # its preset's callback settings
    Study("demo_decade_cpu", ("--bootstrap", "100", "--holdout", "3")),  # its preset's callback settings
    Study("eltec_isoflop_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_isoflop_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_isoflop_tuned_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_isoflop_wsd_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_isoflop_wsd_tuned_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_isoflop_wsd_long_cpu", ("--bootstrap", "200")),
    Study("synthetic_isoflop_decades_cpu", ("--bootstrap", "200")),
    # Every run of the largest budget, 3e13: seed 0 at its six shapes and seeds 1-5 at three of them.
    Study("synthetic_isoflop_decades_cpu/holdout", ("--bootstrap", "200", "--holdout", "21"),
          runs="synthetic_isoflop_decades_cpu", compare_global=False),
    # The same trunks read at their stable phase, 0.85 of each budget (issue 20): the runs under a
    # constant rate, Kaplan's reading, beside the annealed branches above.
    Study("synthetic_isoflop_decades_cpu/constant_phase",
          ("--constant-phase", "2.55e11,8.5e11,2.55e12,8.5e12,2.55e13", "--bootstrap", "200"),
          runs="synthetic_isoflop_decades_cpu", compare_global=False),
    *(Study(f"synthetic_adaptive_cpu/{r}", ("--bootstrap", "200"))
      for r in ("first", "proposed", "by_hand_shape", "by_hand_budget")),
    # The annealing law and approach 2/3 on the profiles it predicts (see that study's README).
    Study("synthetic_isoflop_wsd_cpu/annealing",
          ("--law", "annealing", "--fit-schedules", "constant,wsd", "--predict-runs",
           "results/synthetic_isoflop_cpu", "--profiles", "1e12,2e12,5e12,1e13,3e13", "--bootstrap", "100"),
          runs="synthetic_isoflop_wsd_cpu", compare_global=False),
    # Both curve laws side by side on the same curves (issue 21).
    Study("synthetic_isoflop_wsd_cpu/curve_laws",
          ("--law", "multipower", "--law", "annealing", "--fit-schedules", "constant,wsd", "--predict-runs",
           "results/synthetic_isoflop_cpu", "--profiles", "1e12,2e12,5e12,1e13,3e13", "--bootstrap", "100"),
          runs="synthetic_isoflop_wsd_cpu", compare_global=False),
    # The same shapes with 200 evaluations a run (issue 21): the curve laws on every wsd curve, on the
    # trunks alone, and without fit_from (see that study's README).
    Study("synthetic_curves_wsd_cpu", ("--bootstrap", "200", "--holdout", "5")),
    Study("synthetic_curves_wsd_cpu/curve_laws",
          ("--law", "multipower", "--law", "annealing", "--predict-runs", "results/synthetic_isoflop_cpu",
           "--profiles", "1e12,2e12,5e12,1e13,3e13", "--cooldown-budgets", "2e12", "--bootstrap", "50"),
          runs="synthetic_curves_wsd_cpu", compare_global=False),
    Study("synthetic_curves_wsd_cpu/trunks",
          ("--law", "multipower", "--law", "annealing", "--fit-curves", ",".join(CURVE_TRUNKS), "--predict-runs",
           "results/synthetic_isoflop_cpu", "--profiles", "1e12,2e12,5e12,1e13,3e13", "--bootstrap", "50"),
          runs="synthetic_curves_wsd_cpu", compare_global=False),
    Study("synthetic_curves_wsd_cpu/curve_laws_fit_from_0",
          ("--law", "multipower", "--law", "annealing", "--curve-fit-from", "0", "--predict-runs",
           "results/synthetic_isoflop_cpu", "--bootstrap", "0"),
          runs="synthetic_curves_wsd_cpu", compare_global=False),
)


class RefitError(Exception):
    """A study that cannot be refitted: one line for the user."""


def refit(study: Study) -> None:
    src, out = study.source(), RESULTS / study.name
    if not (src / "runs").is_dir():
        raise RefitError(f"{src}/runs: missing (no records to refit)")
    outputs = ["--json", str(out / "fit.json"), "--report", str(out / "report.md"), "--plots", str(out / "plots")]
    if harness_fit([str(src), *study.args, *outputs]) != 0:
        raise RefitError(f"{out}: harness-fit failed (its message is above)")
    if study.compare_global:
        boot = study.args[study.args.index("--bootstrap") + 1]
        with tempfile.TemporaryDirectory() as tmp:  # its report and plots are not kept: the table row is
            if harness_fit([str(src), "--law", "approach2", "--vertex", "global", "--unweighted-vertices",
                            "--bootstrap", boot, "--json", str(out / GLOBAL), "--report", f"{tmp}/r.md",
                            "--plots", f"{tmp}/p"]) != 0:
                raise RefitError(f"{out / GLOBAL}: harness-fit failed (its message is above)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("studies", nargs="*", help="study names as listed by --list (default: all)")
    ap.add_argument("--list", action="store_true", help="print each study and its harness-fit arguments")
    args = ap.parse_args(argv)
    by_name = {s.name: s for s in STUDIES}
    if args.list:
        for s in STUDIES:
            print(f"{s.name}: harness-fit results/{s.runs or s.name} " + " ".join(s.args))
        return 0
    unknown = [n for n in args.studies if n not in by_name]
    if unknown:
        print(f"{PROG}: error: not a study here: {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    try:
        for name in args.studies or list(by_name):
            print(f"== {name}", flush=True)
            refit(by_name[name])
    except RefitError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
