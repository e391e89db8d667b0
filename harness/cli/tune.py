"""``harness-tune``: the tuning step of a learning-rate sweep (conf/sweep/lr_tune.yaml).

    harness-tune results/synthetic_lr_tuning_cpu               # tuning.json, tuning.md, plots/, the preset
    harness-tune results/synthetic_lr_tuning_cpu --install     # also conf/sweep/hparams/<preset>.yaml
    harness-tune results/synthetic_lr_tuning_cpu --extend      # the runs that extend edge-of-grid shapes

A command of its own rather than a harness-fit mode: its input is one sweep's curve of loss against
lr per shape and its output is a preset for other sweeps, not a scaling law; harness-fit only reads
its result (``--tuning``) to flag runs. The multirun's end-of-sweep scaling-law fit is off for
lr_tune, so this runs by hand once the sweep is done (or again after the grid is extended).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli.common import run_main
from harness.errors import FitInputError, TuningError
from harness.files import atomic_write_text
from harness.tune.analysis import analyse_records, extension, load_tuning_sweep
from harness.tune.preset import read_rule, write_preset
from harness.tune.report import plots, render


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness-tune", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", help="the tuning sweep's folder (<out_dir>/<sweep_name>, with runs/)")
    p.add_argument("--reference", default="porian", metavar="PRESET",
                   help="the preset whose lr rule the grid was centred on (a name under conf/sweep/hparams/ or a "
                        "YAML path); its batch and warmup rules are copied into the written preset (default porian)")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="name of the preset written (default tuned_<sweep folder name>)")
    p.add_argument("--install", action="store_true",
                   help="also write the preset into the project's conf/sweep/hparams/, loadable by name everywhere")
    p.add_argument("--extend", action="store_true",
                   help="print the harness-train commands that extend the grid of every edge-of-grid shape")
    p.add_argument("--sweep-preset", default="lr_tune", metavar="NAME",
                   help="the sweep preset the tuning sweep ran with, for the --extend commands (default lr_tune)")
    p.add_argument("--noise", type=float, default=0.003, metavar="NATS",
                   help="lowest loss noise assumed by the bootstrap of each optimum (default 0.003)")
    p.add_argument("--bootstrap", type=int, default=400, metavar="N", help="resamples per shape (default 400)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true")
    return p


def extend_commands(result, sweep_dir: Path, sweep_preset: str) -> list[str]:
    ref = result.reference
    out = []
    for s in result.shapes:
        lrs = extension(s)
        if not lrs:
            continue
        base = (f"harness-train -m sweep={sweep_preset} out_dir={sweep_dir.parent.as_posix()} "
                f"sweep_name={sweep_dir.name} model={s.model}")
        out.append(f"# {s.key}: best rate at the grid's {s.edge} end ({s.lr_opt:.3g}); add:")
        out.append(f"{base} optim.lr={','.join(f'{x:.3g}' for x in lrs)}")
        if ref and s.rule_lr:
            # Plain rates, not hp.lr_x multipliers: the end-of-sweep callback resolves command-line
            # overrides against the sweep's base config, where the model is not this shape.
            out.append("#   (x" + ", x".join(f"{x / s.rule_lr:.3g}" for x in lrs) + f" the {ref.get('preset', 'reference')} rule)")
    return out


def _portable(p: Path) -> str:
    """The path as the report may show it: relative to the working folder, never a machine's
    absolute path (reports are committed)."""
    import os

    rel = Path(os.path.relpath(p.resolve(), Path.cwd()))
    return rel.as_posix() if not rel.as_posix().startswith("..") else f"<this folder>/{p.name}"


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.noise < 0 or args.bootstrap < 1:
        raise TuningError("--noise must be >= 0 and --bootstrap >= 1")
    sweep = Path(args.sweep_dir)
    ref = {**read_rule(args.reference), "preset": Path(args.reference).stem}
    recs = load_tuning_sweep(sweep)
    result = analyse_records(recs, source=sweep.name or str(sweep), reference=ref, noise=args.noise,
                             n_boot=args.bootstrap, seed=args.seed)
    name = args.preset or f"tuned_{sweep.resolve().name}"
    try:
        atomic_write_text(sweep / "tuning.json", json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n")
        preset_lines = []
        if result.law is not None:
            paths = write_preset(result, sweep, name, base=args.reference, install=args.install)
            preset_lines = ["## The preset", "", f"Written: `conf/sweep/hparams/{name}.yaml` in this folder"
                            + (" and in the project's conf/" if args.install else "") + ". Load it with "
                            f"`sweep/hparams@hparams={name}` in a sweep whose defaults name hparams, `+sweep/hparams={name}` "
                            f"for a run without one" + ("" if args.install else
                            f", adding `'hydra.searchpath=[file://{_portable(sweep / 'conf')}]'` while it lives "
                            "only in this folder") + ".", ""]
        else:
            paths = []
        figs = {} if args.no_plots else plots(result, sweep / "plots")
        atomic_write_text(sweep / "tuning.md", render(result, figs, preset_lines))
    except FitInputError as e:
        raise TuningError(str(e)) from None
    for s in result.shapes:
        ci = "[" + ", ".join("–" if v is None else f"{v:.3g}" for v in s.lr_ci) + "]"
        pen = f", the rule's {s.rule_lr:.3g} costs {s.rule_penalty:+.4f} nats" if s.rule_penalty is not None else ""
        print(f"{s.key:>12}  N {s.n:9.3g}  lr* {s.lr_opt:.3g} {ci}  loss {s.loss_opt:.4f}{pen}"
              + (f"  EDGE ({s.edge}): extend the grid" if s.edge else ""))
    for n in result.notes:
        print(f"note: {n}")
    if result.law:
        law = result.law
        print(f"lr*(N) = {law.c:.3g} * (N/1e5)^{law.e:.3g}, e 95% CI [{law.e_ci[0]:.3g}, {law.e_ci[1]:.3g}] "
              f"(reference exponent {ref['lr_exp']:g}); {len(law.shapes)} shapes")
    for p in paths:
        print(f"preset: {p}")
    print(f"wrote {sweep / 'tuning.json'}, {sweep / 'tuning.md'}" + ("" if args.no_plots else f", {sweep / 'plots'}/"))
    if args.extend:
        cmds = extend_commands(result, sweep, args.sweep_preset)
        print("\n".join(cmds) if cmds else "no shape has its optimum at the grid's edge: nothing to extend")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main("harness-tune", run, argv, TuningError)


if __name__ == "__main__":
    sys.exit(main())
