"""Give records made before a change of the run identity the id their config has now.

A record's file name and ``run_id`` are its run's identity (``harness.records.run_id_of``). When
that definition changes (local text data began to be identified by its content, not its path),
records written earlier keep their old ids, and running their sweep again would train every run a
second time beside the old record, so the fitter would see each point twice. This script renames
such records to the id their stored config has today, but only when the data is provably the same:
for local text the record's ``data_fingerprint`` must equal the fingerprint of the files as they
are now (the corpus content and every tokenizer setting). A record whose data has changed, or that
cannot be checked, is left as it is and named.

    python scripts/migrate_run_ids.py results/eltec_isoflop_cpu results/eltec_kaplan_cpu      # dry run
    python scripts/migrate_run_ids.py results/eltec_isoflop_cpu --write

Run it from the folder the sweep was started in, so relative data paths resolve as they did.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from omegaconf import OmegaConf

from harness import files, records
from harness.config import to_config
from harness.errors import ConfigError


def current_data_fingerprint(cfg) -> str | None:
    """The fingerprint the data of ``cfg`` has now, or None where it cannot be known cheaply."""
    if cfg.data.kind != "text" or not cfg.data.paths:
        return None  # synthetic data and hub data are named by their config alone
    from harness.data.text import corpus_identity, fingerprint_of

    identity, _ = corpus_identity(cfg.data)
    return fingerprint_of(identity, cfg.data)


def plan(sweep_dir: Path) -> list[tuple[Path, str, str | None]]:
    """(record file, new id, reason it cannot move) for every record whose id is out of date."""
    out = []
    recs, bad = records.scan_sweep(sweep_dir)
    for path, why in bad:
        out.append((path, "", f"unreadable: {why}"))
    for rec in recs:
        path = records.record_path(sweep_dir.parent, sweep_dir.name, rec.run_id)
        try:
            # The sweep section is no part of the identity, and its schema has changed (sweep.name
            # is gone), so it is left out rather than allowed to stop the typing.
            cfg = to_config(OmegaConf.create({k: v for k, v in rec.config.items() if k != "sweep"}))
        except (ConfigError, TypeError, ValueError) as e:
            out.append((path, "", f"its config no longer types: {e}"))
            continue
        new = records.run_id_of(cfg)
        if new == rec.run_id:
            continue
        why = None
        if cfg.data.kind == "text" and cfg.data.paths:
            try:
                now = current_data_fingerprint(cfg)
            except Exception as e:  # a missing or unreadable corpus: nothing can be proved
                now, why = None, f"data cannot be read now ({type(e).__name__}: {e})"
            if why is None and now != rec.data_fingerprint:
                why = f"data changed since it trained (fingerprint {rec.data_fingerprint} then, {now} now)"
        elif cfg.data.kind == "text":
            why = "hub data: its identity did not change, so the id moved for another reason; look first"
        if why is None and (sweep_dir / "runs" / f"{new}.json").exists():
            why = f"a record {new}.json is already there"
        out.append((path, new, why))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dirs", nargs="+", type=Path)
    ap.add_argument("--write", action="store_true", help="rename the records (default: only say what would move)")
    args = ap.parse_args(argv)
    moved = kept = 0
    for sweep_dir in args.sweep_dirs:
        if not (sweep_dir / "runs").is_dir():
            print(f"migrate_run_ids: {sweep_dir}: no runs/ folder, not a sweep directory", file=sys.stderr)
            return 2
        for path, new, why in plan(sweep_dir):
            if why:
                kept += 1
                print(f"kept {path}: {why}")
                continue
            moved += 1
            print(f"{'moved' if args.write else 'would move'} {path.name} -> {new}.json")
            if args.write:
                rec = records.read_record(path)
                files.atomic_write_text(path.with_name(f"{new}.json"),
                                          records.record_json(dataclasses.replace(rec, run_id=new)))
                path.unlink()
    print(f"{moved} record(s) {'moved' if args.write else 'to move'}, {kept} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
