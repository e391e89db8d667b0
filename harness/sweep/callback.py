"""The sweep's Hydra callback: progress while it runs, a summary and the fit when it ends.

Configured in conf/config.yaml (``hydra.callbacks.sweep``), so every multirun gets it:

* ``on_multirun_start`` (launching process): expands the grid as the sweeper will (harness/sweep/
  expand.py) to know every planned run_id, and says how many are already done.
* ``on_job_end`` (the job's process, whatever the launcher): one line per finished run with the
  counter k/n, where k counts planned runs that have a record on disk. Counting records rather
  than callbacks makes the counter right across joblib workers, submitit jobs and restarts.
* ``on_multirun_end`` (launching process, after the launcher has collected every job; with
  submitit that is after the cluster jobs end): waits briefly for records that a shared
  filesystem may show late, prints the summary (failed and diverged runs with their reasons,
  runs with no record), then fits the sweep's completed runs with the fitter's API and writes
  ``<out_dir>/<sweep_name>/fit.json``, ``report.md`` and ``plots/``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from harness import records
from harness.config import to_config
from harness.errors import FitInputError, InsufficientData, SweepError
from harness.fit.api import fit_sweep
from harness.run.branches import branch_config
from harness.sweep.expand import jobs_of
from harness.sweep.fit_settings import FitSettings
from harness.sweep.orphans import die_with_parent
from harness.sweep.units import si


def _fmt_si(x: float | None) -> str:
    return "-" if x is None else si(x)


def _bar(k: int, n: int, width: int = 20) -> str:
    filled = round(width * k / n) if n else width
    return "#" * filled + "." * (width - filled)


def _task_cfg(config: DictConfig):
    """The typed task config of a job (its DictConfig minus the hydra node)."""
    import copy

    from omegaconf import open_dict, read_write

    cfg = copy.deepcopy(config)
    with read_write(cfg), open_dict(cfg):
        if "hydra" in cfg:
            del cfg["hydra"]
    return to_config(cfg)


def _refuse_bad_fit_settings(config: DictConfig) -> FitSettings | None:
    """The end-of-sweep fit's settings; on ones it would skip after hours of training, stop the
    multirun before any job. Hydra turns an exception raised in a callback into a warning and goes
    on, so this exits instead."""
    try:
        return FitSettings.of(config)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


class SweepCallback(Callback):
    def __init__(self) -> None:
        self.planned: list[str] = []  # unique run_ids of this multirun, in job order
        self.labels: dict[str, str] = {}  # run_id -> the job's overrides, for the summary
        self.plan_errors: list[str] = []
        self.started_at: str = ""
        self.t0 = 0.0
        self.fit_settings: FitSettings | None = None  # read when the multirun starts, used when it ends

    # -- launching process ------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:

        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.perf_counter()
        self.fit_settings = _refuse_bad_fit_settings(config)
        try:
            jobs = jobs_of(config, list(config.hydra.overrides.task))
        except Exception as e:  # the sweeper will report the same problem its own way
            self.plan_errors.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
            return
        for job in jobs:
            if job.cfg is None:
                self.plan_errors.append(f"job {job.num} ({' '.join(job.overrides)}): {job.error}")
                continue
            rid = records.run_id_of(job.cfg)
            if rid not in self.labels:
                self.planned.append(rid)
                self.labels[rid] = " ".join(job.overrides)
            # A trunk's cooldown branches are runs of the sweep too (harness/run/branches.py).
            for b in job.cfg.schedule.branches:
                bid = records.run_id_of(branch_config(job.cfg, b))
                if bid not in self.labels:
                    self.planned.append(bid)
                    self.labels[bid] = " ".join(job.overrides) + f" (branch {b:g})"
        out_dir, name = str(config.out_dir), str(config.sweep_name)
        done = {s: 0 for s in records.STATUSES}
        for rid in self.planned:
            rec = _safe_find(out_dir, name, rid)
            if rec is not None:
                done[rec.status] += 1
        msg = (f"sweep {name}: {len(jobs)} jobs, {len(self.planned)} distinct runs -> "
               f"{Path(out_dir) / name / 'runs'}")
        if any(done.values()):
            msg += (f" | already recorded: {done['completed']} completed (skipped)"
                    + (f", {done['diverged']} diverged (kept)" if done["diverged"] else "")
                    + (f", {done['failed']} failed ("
                       + ("retried" if config.sweep.retry_failed else "kept; sweep.retry_failed=true reruns them")
                       + ")" if done["failed"] else ""))
        print(msg, flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        out_dir, name = str(config.out_dir), str(config.sweep_name)
        sweep_dir = Path(out_dir) / name
        recs = self._wait_for_records(out_dir, name, float(config.sweep.record_wait_seconds))
        # Unreadable records (planned runs' ones were already moved aside by find_record) are set
        # aside here too, so the fit reads a clean folder and a restart reruns those runs.
        try:
            _, unreadable = records.scan_sweep(sweep_dir, quarantine_corrupt=True)
        except records.RecordError:  # no runs/ folder: nothing was recorded at all
            unreadable = []
        by_status: dict[str, list[records.RunRecord]] = {s: [] for s in records.STATUSES}
        for r in recs.values():
            by_status[r.status].append(r)
        missing = [rid for rid in self.planned if rid not in recs]
        elapsed = time.perf_counter() - self.t0
        print(f"\nsweep {name} finished in {elapsed:.0f}s: {len(by_status['completed'])} completed, "
              f"{len(by_status['diverged'])} diverged, {len(by_status['failed'])} failed"
              + (f", {len(missing)} without a record" if missing else "")
              + f" (of {len(self.planned)} planned)", flush=True)
        for status in ("diverged", "failed"):
            for r in by_status[status]:
                print(f"  {status}: {r.run_id} [{self.labels.get(r.run_id, '')}]: {r.reason}", flush=True)
        for rid in missing:
            print(f"  no record: {rid} [{self.labels.get(rid, '')}] (killed, or still running elsewhere; "
                  f"start the sweep again to finish it)", flush=True)
        for err in self.plan_errors:
            print(f"  not planned: {err}", flush=True)
        for path, reason in unreadable:
            print(f"  unreadable record: {path}: {reason} (its run counts as not done)", flush=True)
        if config.sweep.fit:
            self._fit(config, sweep_dir)

    def _wait_for_records(self, out_dir: str, name: str, wait: float) -> dict[str, records.RunRecord]:
        deadline = time.monotonic() + wait
        while True:
            found = {rid: r for rid in self.planned if (r := _safe_find(out_dir, name, rid)) is not None}
            if len(found) == len(self.planned) or time.monotonic() >= deadline:
                return found
            time.sleep(1.0)

    def _fit(self, config: DictConfig, sweep_dir: Path) -> None:
        t0 = time.perf_counter()
        try:
            fs = self.fit_settings or FitSettings.from_sweep(config.sweep)
            report = fit_sweep(sweep_dir, laws=list(fs.laws) or None, bootstrap=fs.bootstrap, holdout=fs.holdout,
                               param_convention=fs.param_convention, flops_convention=fs.flops_convention, tuning=fs.tuning,
                               undertuned_weight=fs.undertuned_weight)
        except (FitInputError, InsufficientData, SweepError) as e:
            print(f"fit: skipped ({e})", flush=True)
            return
        except Exception as e:  # the records are intact; a fit problem must not look like a lost sweep
            print(f"fit: failed ({type(e).__name__}: {e}); redo it with: harness-fit {sweep_dir}", file=sys.stderr,
                  flush=True)
            return
        # The headline's first line says N and C conventions; under-determined fits and notes follow.
        print(f"\nfit of {report.n_points} runs in {time.perf_counter() - t0:.0f}s:", flush=True)
        print(report.headline(), flush=True)
        if report.tuning:
            flagged = [r for r in report.tuning["runs"] if r["flagged"]]
            print(f"under-tuned: {len(flagged)} of {len(report.tuning['runs'])} runs flagged against "
                  f"{report.tuning['source']}" + "".join(f"\n  {r['model']} (run {r['run_id']}): {r['why']}"
                                                          for r in flagged), flush=True)
        print(f"wrote {sweep_dir / 'fit.json'}, {sweep_dir / 'report.md'}, {sweep_dir / 'plots'}/ "
              f"(redo by hand: harness-fit {sweep_dir})", flush=True)

    # -- job process --------------------------------------------------------------------------
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        # A joblib (loky) worker must end with the sweep that launched it, or a killed sweep leaves
        # it training the run its restart trains again (harness/sweep/orphans.py). A no-op in the
        # launching process (basic launcher) and in submitit jobs.

        try:
            die_with_parent()
        except Exception as e:  # never fail a run over this; say that the guard is off
            print(f"(this job will not end with its sweep: {type(e).__name__}: {e})", file=sys.stderr, flush=True)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        try:
            if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
                return
            if not OmegaConf.select(config, "sweep.progress", default=True):
                return
            print(self.progress_line(config), flush=True)
        except Exception as e:  # progress is a courtesy: it must never fail a run
            print(f"(progress line unavailable: {type(e).__name__}: {e})", flush=True)

    def progress_line(self, config: DictConfig) -> str:
        cfg = _task_cfg(config)
        rid = records.run_id_of(cfg)
        rec = _safe_find(cfg.out_dir, cfg.sweep_name, rid)
        n = len(self.planned)
        k = sum(1 for p in self.planned if records.record_path(cfg.out_dir, cfg.sweep_name, p).exists())
        head = f"[{k:>{len(str(n))}}/{n}] {_bar(k, n)}" if n else "[?/?]"
        label = cfg.model.name or f"L{cfg.model.n_layer}d{cfg.model.d_model}"
        if rec is None:
            return f"{head} {label}: no record (run {rid})"
        n_params = rec.params.get(cfg.sweep.fit_param_convention) if rec.params else None
        c = rec.flops.get(cfg.sweep.fit_flops_convention) if rec.flops else None
        loss = f"{rec.val_loss:.4f}" if rec.val_loss is not None else "-"
        status = rec.status
        if self.started_at and rec.ended_at < self.started_at:
            status += " (recorded earlier)"
        elif rec.reason:
            status += f" ({rec.reason})"
        return (f"{head} {label} N={_fmt_si(n_params)} D={_fmt_si(rec.tokens)} C={c or 0:.3g} "
                f"val_loss {loss} {rec.wall_seconds:.1f}s {status}")


def _safe_find(out_dir: str, name: str, run_id: str) -> records.RunRecord | None:
    try:
        return records.find_record(out_dir, name, run_id)
    except (records.RecordError, OSError):
        return None
