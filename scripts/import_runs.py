"""Bring the records of runs trained elsewhere into a results store, as if they had been run there.

A study run on another machine, from a separate worktree or into a cluster's scratch folder leaves
its records under that run's ``out_dir``. Copying the files is not enough: each record keeps the
``out_dir`` (and ``sweep_name``) it was started with, so a committed record would name a folder of
another machine, and a renamed sweep would hold records of another name. This script copies the
completed records of one sweep folder into ``<store>/<sweep name>/runs/``, with ``config.out_dir``
set to ``store`` as written on the command line (and the sweep renamed with ``--sweep-name``).
Neither key is part of a run's identity (``harness.records.RUN_ID_EXCLUDED``), so every record
keeps its run_id, and a later ``harness-train -m ... out_dir=<store>`` finds the runs done.

    python scripts/import_runs.py /scratch/out/my_sweep results                 # dry run: what would be copied
    python scripts/import_runs.py /scratch/out/my_sweep results --write
    python scripts/import_runs.py /scratch/out/kvc_one_lr_decades_cpu results/kaplan_vs_chinchilla_cpu --write

Nothing is written unless every record can be: an unreadable record, a record whose stored config
no longer gives its run_id (run scripts/migrate_run_ids.py first), or a run already in the store
with other results stops the import with one line per problem and exit status 2. A record already
there with the same results is left as it is. Records of runs that did not complete, checkpoints
and locks are not copied. The CPU-hours printed are the records' wall seconds summed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from harness import records
from harness.errors import HarnessError
from harness.records.store import scan_records


def _comparable(rec: records.RunRecord) -> dict:
    """The record less where it was written: two records of one run agree on this when their results do."""
    d = rec.to_dict()
    d["sweep_name"] = None
    d["config"] = {k: v for k, v in d["config"].items() if k not in ("out_dir", "sweep_name")}
    return d


def plan_import(src: Path, store: str, sweep_name: str | None = None
                ) -> tuple[list[records.RunRecord], list[str], list[str], list[str]]:
    """(records to write, already there, not completed, problems) for the sweep folder ``src``."""
    if not (src / "runs").is_dir():
        return [], [], [], [f"{src}: not a sweep folder (it has no runs/ folder)"]
    good, bad = scan_records(records.iter_record_paths(src))
    problems = [f"{path}: {reason}" for path, reason in bad]
    todo: list[records.RunRecord] = []
    same: list[str] = []
    skipped: list[str] = []
    for path, rec in good:
        if rec.status != "completed":
            skipped.append(f"{path.name} ({rec.status})")
            continue
        name = sweep_name or rec.sweep_name
        moved = replace(rec, sweep_name=name, config={**rec.config, "out_dir": store, "sweep_name": name})
        try:
            run_id = records.run_id_of(moved.config)
        except (HarnessError, OSError) as e:
            problems.append(f"{path}: its run_id cannot be recomputed ({e})")
            continue
        if run_id != rec.run_id:
            problems.append(f"{path}: its config gives run_id {run_id}, not the {rec.run_id} it was written with "
                            "(the identity changed since: run scripts/migrate_run_ids.py on it first)")
            continue
        dest = records.record_path(store, name, rec.run_id)
        if dest.exists():
            try:
                there = records.read_record(dest)
            except (HarnessError, OSError) as e:
                problems.append(f"{dest}: already there and unreadable ({e}); move it aside first")
                continue
            if _comparable(there) == _comparable(moved):
                same.append(rec.run_id)
            else:
                problems.append(f"{dest}: already there with other results than {path}; nothing is overwritten")
            continue
        todo.append(moved)
    return todo, same, skipped, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="the sweep folder the runs were written to (<out_dir>/<sweep_name>)")
    ap.add_argument("store", help="the results store to bring them into, as harness-train's out_dir would name it")
    ap.add_argument("--sweep-name", default=None, help="file the runs under this sweep name (default: their own)")
    ap.add_argument("--write", action="store_true", help="copy them (default: say what would be copied)")
    args = ap.parse_args(argv)
    todo, same, skipped, problems = plan_import(args.src, args.store, args.sweep_name)
    for p in problems:
        print(f"import_runs: {p}", file=sys.stderr)
    if problems:
        print(f"import_runs: nothing written ({len(problems)} problem(s) above)", file=sys.stderr)
        return 2
    hours = sum(r.wall_seconds for r in todo) / 3600
    verb = "copied" if args.write else "to copy (dry run: add --write)"
    sweeps = sorted({r.sweep_name for r in todo}) or [args.sweep_name or args.src.name]
    print(f"{len(todo)} records {verb} into {args.store}/{', '.join(sweeps)}/runs ({hours:.2f} CPU-hours by their "
          f"wall time); {len(same)} already there; {len(skipped)} not completed, left out"
          + (f": {', '.join(skipped)}" if skipped else ""))
    if args.write:
        for rec in todo:
            records.write_record(rec, args.store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
