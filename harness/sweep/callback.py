"""The sweep's Hydra callback: progress while it runs, a summary and the fit when it ends.

Configured in conf/config.yaml (``hydra.callbacks.sweep``), so every multirun gets it:

* ``on_multirun_start`` (launching process): expands the grid as the sweeper will (harness/sweep/
  expand.py) to know every planned run_id, and says how many are already done.
* ``on_job_end`` (the job's process, whatever the launcher): one line per finished run with the
  counter k/n, where k counts planned runs that have a record on disk (harness/sweep/progress.py).
  A submitit job's output goes to its log file, so for submitit launchers the launching process
  also watches the records folder and prints each run's line there as its record appears.
* ``on_multirun_end`` (launching process, after the launcher has collected every job; with
  submitit that is after the cluster jobs end, requeued ones included): waits briefly for records
  that a shared filesystem may show late, prints the summary (failed and diverged runs with their
  reasons, runs with no record), then fits the sweep's completed runs with the fitter's API and
  writes ``<out_dir>/<sweep_name>/fit.json``, ``report.md`` and ``plots/``; with W&B on
  (``logging.wandb``), logs that fit into the sweep's W&B group (harness/sweep/wandb_fit.py).
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
from harness.fit.api import FitReport, fit_sweep
from harness.run.branches import branch_config
from harness.sweep.expand import jobs_of
from harness.sweep.fit_settings import FitSettings
from harness.sweep.orphans import die_with_parent
from harness.sweep.progress import RecordWatcher, jobs_print_elsewhere, label, line
from harness.sweep.wandb_fit import WandbTarget, figures_on_disk, figures_written, log_fit


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
        # Progress lines of jobs whose output is not the terminal (submitit), from the launching process.
        self.watcher: RecordWatcher | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Submitit pickles the callbacks into every job: the watcher (a thread) stays behind in the
        # launching process, and the job's copy prints its own line into its log as before.
        return {**self.__dict__, "watcher": None}

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
        if jobs_print_elsewhere(str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")):
            fs = self.fit_settings or FitSettings()
            self.watcher = RecordWatcher(out_dir, name, self.planned, fs.param_convention, fs.flops_convention,
                                         self.started_at)
            self.watcher.start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        out_dir, name = str(config.out_dir), str(config.sweep_name)
        sweep_dir = Path(out_dir) / name
        recs = self._wait_for_records(out_dir, name, float(config.sweep.record_wait_seconds))
        if self.watcher is not None:  # every run's line before the summary
            self.watcher.stop()
            self.watcher = None
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
        target = WandbTarget.of(config)
        plots_before = figures_on_disk(sweep_dir / "plots") if target is not None else {}
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
        if target is not None:
            self._log_fit(report, sweep_dir, target, figures_written(sweep_dir / "plots", plots_before), fs)

    @staticmethod
    def _log_fit(report: FitReport, sweep_dir: Path, target: WandbTarget, figures: dict[str, Path],
                 fs: FitSettings) -> None:
        try:
            run_id = log_fit(report, sweep_dir, target, figures, fs)
        except Exception as e:  # the fit's files are written; a W&B problem must not look like a lost fit
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"wandb: the fit was not logged ({type(e).__name__}: {first}); its files are in {sweep_dir}",
                  file=sys.stderr, flush=True)
            return
        print(f"wandb: logged the fit to group {target.group} (run {run_id}, job type fit, {target.mode})",
              flush=True)

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
        k = sum(1 for p in self.planned if records.record_path(cfg.out_dir, cfg.sweep_name, p).exists())
        return line(k, len(self.planned), label(vars(cfg.model)), rid, rec, cfg.sweep.fit_param_convention,
                    cfg.sweep.fit_flops_convention, self.started_at)


def _safe_find(out_dir: str, name: str, run_id: str) -> records.RunRecord | None:
    try:
        return records.find_record(out_dir, name, run_id)
    except (records.RecordError, OSError):
        return None
