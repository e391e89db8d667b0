"""``harness-fit``: fit scaling laws to sweep directories, CSV files or open_lm result folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli.common import run_main
from harness.errors import FitInputError
from harness.fit.api import (
    DEFAULT_BOOTSTRAP,
    check_outputs,
    fit_points,
    positive_number,
    write_outputs,
)
from harness.fit.constant_phase import constant_phase_points
from harness.fit.curve_predict import extend_report, keep_schedules, split_curves
from harness.fit.law import get_law, law_names
from harness.fit.laws.approach2 import IsoFlopFit
from harness.fit.loaders import load_any
from harness.fit.loaders.curvefiles import INTERPOLATIONS, CurveOptions, NamedSchedule
from harness.fit.lrcurves import check_fit_from
from harness.fit.points import concat
from harness.fit.vertex import DEFAULT_FINDER, DEFAULT_WINDOW, VERTEX_FINDERS
from harness.flops import CONVENTIONS as FLOP_CHOICES
from harness.flops import PARAM_CONVENTIONS as PARAM_CHOICES
from harness.tune.fitlink import apply_tuning

EPILOG = """examples:
  harness-fit results/my_sweep                      # default laws, writes fit.json/report.md/plots there
  harness-fit points.csv --law chinchilla --json fit.json --holdout 5
  harness-fit svg_extracted_data.csv --n-col "Model Size" --c-col "Training FLOP" --drop-highest-loss 5
  harness-fit ../gadre_scaling --train-set rpj --law gadre   # one training set of an open_lm folder
  harness-fit ../gadre_scaling --by-data                     # every training set on its own
  harness-fit ../gadre_scaling --train-set rpj --law gadre --holdout 2 \
      --runs 'rpj-d=*-1.0,rpj-d=96_l=8_h=4-16.0,rpj-open_lm_1b-32.0,rpj-open_lm_7b-1.0'
                                   # Gadre et al.'s headline: 5 small runs predict the 1.4B and 6.9B runs
  harness-fit results/wsd_study --law annealing --law multipower --fit-schedules constant,wsd \
      --predict-runs results/synthetic_isoflop_cpu --profiles 1e12,3e12,1e13,3e13
                                   # the curve laws: fit WSD curves, predict the cosine runs, IsoFLOPs from predictions
  harness-fit curves/ --law multipower --fit-curves cosine_24000,constant_24000,wsdcon_9
                                   # a folder of CSVs (step, lr, loss): fit three curves, predict every other one
  harness-fit wandb_export.csv --loss-col val/loss --lr-col lr   # a W&B history export (_step)

Points from several data sets are never pooled by a one-data-set law: name one (--train-set for
open_lm folders), fit each (--by-data: one report section per data set, headed by its label,
in the same fit.json/report.md), or fit them jointly (--law shared).
Every C read or reported is in the points' FLOP convention (--flops-convention for run records; a CSV's own C).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness-fit", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="sweep directories, CSV files, or open_lm results folders")
    p.add_argument("--law", action="append", choices=law_names(), help="law(s) to fit (repeatable; default: what the data supports)")
    p.add_argument("--n-col", default="N"); p.add_argument("--d-col", default="D")
    p.add_argument("--c-col", default="C"); p.add_argument("--loss-col", default="loss")
    p.add_argument("--group-col", default=None, help="CSV column naming each point's data set (kept apart; --by-data or --law shared)")
    p.add_argument("--unique-col", default=None, help="CSV column of unique tokens (data-constrained fit)")
    p.add_argument("--val-set", default="c4_val", help="open_lm results: which validation set's loss to use")
    p.add_argument("--train-set", default=None, metavar="NAME",
                   help="open_lm results: keep only the runs trained on this data set (dataset_name)")
    p.add_argument("--runs", action="append", default=[], metavar="PATTERNS",
                   help="keep only points whose label (run id, open_lm run name) matches one of these "
                        "comma-separated shell patterns (repeatable), e.g. 'rpj-d=*-1.0'")
    p.add_argument("--by-data", action="store_true",
                   help="fit every law to each data set on its own: one report.md section per data set, each "
                        "result in fit.json carries its \"dataset\", a law's own plots are <name>_<data set>.png")
    p.add_argument("--param-convention", "--params", dest="param_convention", choices=PARAM_CHOICES,
                   default="total", help="run records: which N (--params: its deprecated spelling)")
    p.add_argument("--flops-convention", "--flops", dest="flops_convention", choices=FLOP_CHOICES, default="6ND",
                   help="run records: which FLOP convention is C (--flops: its deprecated spelling)")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K", help="drop the K highest losses first")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, metavar="N", help="resamples (0: off)")
    p.add_argument("--holdout", type=int, default=0, metavar="K", help="fit without the K largest-compute points, report error on them")
    p.add_argument("--at-flops", default="", help="comma-separated budgets for the allocation, e.g. 1e18,1e21")
    p.add_argument("--predict", action="append", default=[], help="N=...,D=... or C=... (repeatable)")
    p.add_argument("--inference-tokens", type=float, default=None,
                   help="inference-aware optimum (Sardana & Frankle) for this many inference tokens (>= 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="FILE", help="write the fit as JSON")
    p.add_argument("--plots", default=None, metavar="DIR", help="write PNG and SVG plots here")
    p.add_argument("--report", default=None, metavar="FILE", help="write a markdown report")
    g = p.add_argument_group("approach 3 (chinchilla)")
    g.add_argument("--pin", action="append", default=[], metavar="NAME=VALUE",
                   help="hold a parameter of L = E + A/N^alpha + B/D^beta fixed (repeatable), e.g. E=1.2136; with a "
                        "known Bayes loss (synthetic data) E is also pinned at it beside the free fit anyway")
    p.add_argument("--constant-phase", default="", metavar="BUDGETS",
                   help="run records: fit points read off each run's constant-rate phase at these budgets C "
                        "(comma-separated, in --flops-convention) in place of the runs' final losses: Kaplan's "
                        "reading of one long run per size (a wsd trunk's stable phase, a constant-rate run)")
    p.add_argument("--constant-phase-window", type=float, default=1.0, metavar="W",
                   help="with --constant-phase: read each point off a least-squares line in (log step, log loss) "
                        "through the evaluations within a factor W of its step, averaging a constant rate's jitter "
                        "(default 1: the line through the two evaluations around it)")
    g = p.add_argument_group("approach 2 (IsoFLOP vertices)")
    g.add_argument("--vertex", choices=VERTEX_FINDERS, default=DEFAULT_FINDER,
                   help="how each budget's minimum is found: local (a parabola through the sizes around the lowest "
                        "loss, default), akima (Akima's interpolant, Porian et al.), global (one parabola through "
                        "every size: Hoffmann et al.'s approach 2)")
    g.add_argument("--vertex-window", type=int, default=DEFAULT_WINDOW, metavar="K",
                   help=f"--vertex local: the sizes each parabola uses (default {DEFAULT_WINDOW})")
    g.add_argument("--unweighted-vertices", action="store_true",
                   help="fit the power laws through the vertices alike, not by their uncertainty under reruns")
    g.add_argument("--seed-noise", type=float, default=None, metavar="REL",
                   help="the relative seed-to-seed spread of one run's loss, e.g. 0.004 (default: measured from "
                        "replicate seeds, else bounded by the local parabolas' residuals)")
    g = p.add_argument_group("loss curves (CSV files of step, lr, loss; a folder of them; W&B exports) and the curve "
                             "laws (--law multipower, --law annealing)")
    g.add_argument("--step-col", default="step", help="a curve CSV's step column (a W&B export's _step is found anyway)")
    g.add_argument("--lr-col", default="lr", help="a curve CSV's learning-rate column")
    g.add_argument("--tokens-col", default="tokens", help="a curve CSV's optional tokens-seen column")
    g.add_argument("--lr-interp", choices=INTERPOLATIONS, default="linear",
                   help="how a curve's rate is rebuilt between logged steps: linear (default), or previous (held "
                        "until the next logged rate, for schedules that jump)")
    g.add_argument("--lr-schedule", default=None, metavar="SPEC",
                   help="the schedule of curves that log no rate, e.g. name=cosine,peak_lr=3e-4,warmup_steps=2000"
                        "[,steps=24000,final_lr_fraction=0.1] (names: cosine, wsd, constant)")
    g.add_argument("--fit-curves", default=None, metavar="NAMES",
                   help="fit only these curves (comma-separated names or shell patterns: a file's name, a run id); "
                        "every other curve is predicted point by point (mean and worst error in report.md and fit.json)")
    g.add_argument("--curve-fit-from", type=float, default=None, metavar="FRACTION",
                   help="curve laws: fit each shape's points from this fraction of its longest fitted run on (default "
                        "0.02; 0: from the end of the warmup), as the paper's fits start after a long warmup")
    g.add_argument("--cooldown-budgets", default="", metavar="BUDGETS",
                   help="run records: also say which cooldown ends lowest at these budgets C (comma-separated, in "
                        "--flops-convention), beside each shape's longest fitted length")
    g.add_argument("--fit-schedules", default=None, metavar="NAMES",
                   help="fit only runs whose schedule is one of these comma-separated names, e.g. constant,wsd")
    g.add_argument("--predict-runs", default=None, metavar="SWEEP_DIR",
                   help="predict the final val_loss of every completed run of this other sweep whose shape was "
                        "fitted, and report each error, the mean and max |error| (same data set required)")
    g.add_argument("--profiles", default="", metavar="BUDGETS",
                   help="comma-separated budgets C (in --flops-convention): IsoFLOP profiles of PREDICTED final losses of "
                        "every fitted shape, fitted with approach2 (and chinchilla), e.g. 1e12,3e12,1e13")
    g.add_argument("--annealing-lambda", default=None, metavar="LAMBDAS",
                   help="the momentum decay lambda of the annealing area: one value to fix it (the paper's 0.999), "
                        "or comma-separated values to choose from per shape (default 0.9 .. 0.9995)")
    g.add_argument("--profile-schedule", default="cosine", choices=("cosine", "wsd", "constant"),
                   help="the schedule of the predicted runs of --profiles, matched to each length (default cosine)")
    g = p.add_argument_group("under-tuned runs (a learning-rate tuning result, harness-tune)")
    g.add_argument("--tuning", default=None, metavar="PATH",
                   help="a tuning sweep folder or its tuning.json: flag runs whose lr is off the tuned rate")
    g.add_argument("--drop-undertuned", action="store_true", help="with --tuning: leave flagged runs out of the fit")
    g.add_argument("--downweight-undertuned", type=float, default=None, metavar="W",
                   help="with --tuning: give flagged runs weight W in (0, 1) in the laws that take weights "
                        "(approach2, chinchilla); the other laws say they count them in full")
    g.add_argument("--undertuned-threshold", type=float, default=0.01, metavar="NATS",
                   help="with --tuning: flag a run whose estimated loss penalty exceeds this (default 0.01)")
    return p


def _budgets(text: str, option: str = "--at-flops") -> list[float]:
    out = []
    for part in filter(None, (s.strip() for s in text.split(","))):
        out.append(positive_number(part, option))
    return out


def _pins(items: list[str]) -> dict[str, float]:
    """--pin NAME=VALUE pairs; the law checks each name and value against the points it fits."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise FitInputError(f"--pin {item!r}: write NAME=VALUE, e.g. E=1.2136")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise FitInputError(f"--pin {item!r}: {value.strip()!r} is not a number") from None
    return out


DEPRECATED_FLAGS = {"--params": "--param-convention", "--flops": "--flops-convention"}


def _name_deprecated_flags(argv: list[str]) -> None:
    for old, new in DEPRECATED_FLAGS.items():
        if any(a == old or a.startswith(old + "=") for a in argv):
            print(f"harness-fit: {old} is deprecated; it is read as {new}", file=sys.stderr)


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _name_deprecated_flags(sys.argv[1:] if argv is None else argv)
    if args.bootstrap < 0 or args.holdout < 0 or args.drop_highest_loss < 0:
        raise FitInputError("--bootstrap, --holdout and --drop-highest-loss must not be negative")
    if args.inference_tokens is not None and not args.inference_tokens >= 0:
        raise FitInputError(f"--inference-tokens must be a non-negative number of tokens, got {args.inference_tokens:g}")
    budgets = _budgets(args.at_flops)
    json_path, plots, rep = args.json, args.plots, args.report
    # A single sweep directory gets its outputs beside its runs unless told otherwise. Naming any one
    # output says where this fit goes: the others are then not written, rather than written over the
    # sweep's own report and plots with another fit's.
    if len(args.inputs) == 1 and (Path(args.inputs[0]) / "runs").is_dir() and not (json_path or plots or rep):
        sweep = Path(args.inputs[0])
        json_path = json_path or sweep / "fit.json"
        plots = plots or sweep / "plots"
        rep = rep or sweep / "report.md"
    # An output that cannot be written is said now, not after a fit of many minutes.
    check_outputs(json_path, plots, rep)
    curves = CurveOptions(step_col=args.step_col, lr_col=args.lr_col, loss_col=args.loss_col, tokens_col=args.tokens_col,
                          interp=args.lr_interp,
                          schedule=NamedSchedule.parse(args.lr_schedule) if args.lr_schedule else None)
    parts = [load_any(path, curves=curves, n_col=args.n_col, d_col=args.d_col, c_col=args.c_col, loss_col=args.loss_col,
                      group_col=args.group_col, unique_col=args.unique_col,
                      param_convention=args.param_convention, flops_convention=args.flops_convention, val_set=args.val_set, train_set=args.train_set) for path in args.inputs]
    patterns = [pat.strip() for arg in args.runs for pat in arg.split(",") if pat.strip()]
    points = concat(parts).select(patterns)
    if args.constant_phase_window != 1.0 and not args.constant_phase:
        raise FitInputError("--constant-phase-window sets how --constant-phase reads its budgets: give the budgets too")
    if args.constant_phase:
        if args.tuning or any(get_law(law).fits_curves for law in (args.law or [])):
            raise FitInputError("--constant-phase reads points off the curves: it does not combine with --tuning or "
                                "the curve laws")
        points = constant_phase_points(points, _budgets(args.constant_phase, "--constant-phase"),
                                       window=args.constant_phase_window)
    points = points.drop_highest_loss(args.drop_highest_loss)
    tuning = None
    if (args.drop_undertuned or args.downweight_undertuned is not None) and not args.tuning:
        raise FitInputError("--drop-undertuned and --downweight-undertuned need --tuning (a tuning sweep folder or "
                            "its tuning.json)")
    if args.tuning:
        points, tuning, tuning_lines = apply_tuning(args.tuning, args.inputs, points, drop=args.drop_undertuned,
                                                    threshold=args.undertuned_threshold,
                                                    weight=args.downweight_undertuned)
    curve_law = any(get_law(law).fits_curves for law in (args.law or []))
    settings: dict[str, dict] = {"approach2": {"vertex": args.vertex, "window": args.vertex_window,
                                               "weighted": not args.unweighted_vertices,
                                               "seed_noise": args.seed_noise}}
    IsoFlopFit(**settings["approach2"]).check_settings()  # a bad flag is said before any fit runs
    if args.pin:
        settings["chinchilla"] = {"pin": _pins(args.pin)}
    if args.annealing_lambda:
        lams = _budgets(args.annealing_lambda, "--annealing-lambda")
        if not all(0 < x < 1 for x in lams):
            raise FitInputError(f"--annealing-lambda {args.annealing_lambda}: each lambda must be in (0, 1)")
        settings["annealing"] = {"lambdas": tuple(lams)}
    if args.curve_fit_from is not None:
        for law in ("multipower", "annealing"):
            settings[law] = {**settings.get(law, {}), "fit_from": check_fit_from("--curve-fit-from", args.curve_fit_from)}
        if not curve_law:
            raise FitInputError("--curve-fit-from belongs to the curve laws: add --law multipower or --law annealing")
    if args.annealing_lambda and "annealing" not in (args.law or []):
        raise FitInputError("--annealing-lambda belongs to the annealing law: add --law annealing")
    if (args.fit_schedules or args.predict_runs or args.profiles) and not curve_law:
        raise FitInputError("--fit-schedules, --predict-runs and --profiles belong to the curve laws: add --law multipower "
                            "or --law annealing")
    if args.fit_schedules:
        points = keep_schedules(points, args.fit_schedules)
    held_out = []
    if args.fit_curves:
        points, held_out = split_curves(points, args.fit_curves)
    report = fit_points(points, args.law, bootstrap=args.bootstrap, holdout=args.holdout, at_flops=budgets,
                        predict=args.predict, inference_tokens=args.inference_tokens, seed=args.seed,
                        by_data=args.by_data, law_settings=settings)
    extend_report(report, held_out=held_out, predict_dir=args.predict_runs,
                  profiles=_budgets(args.profiles, "--profiles"), schedule=args.profile_schedule,
                  param_convention=args.param_convention, flops_convention=args.flops_convention,
                  bootstrap=args.bootstrap, seed=args.seed,
                  cooldown_budgets=_budgets(args.cooldown_budgets, "--cooldown-budgets"))
    report.tuning = tuning
    for law, why in report.skipped.items():
        print(f"skipped {law}: {why}", file=sys.stderr)
    write_outputs(report, json_path=json_path, plots_dir=plots, report_path=rep)
    # The headline carries the notes (skipped files, dropped points), the FLOP convention and every
    # warning that the fit is under-determined: on stdout, where a user looks.
    print(report.headline())
    if tuning is not None:
        print("\n".join(tuning_lines))
    if json_path is None:
        print(json.dumps(report.to_json()["laws"], indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("harness-fit", run, argv, FitInputError)


if __name__ == "__main__":
    sys.exit(main())
