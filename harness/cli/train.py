"""``harness-train``: one run, or with ``-m`` a Hydra sweep of runs, each to its record.

The run itself is the library ``harness.run.train.run(cfg)``; this module only turns Hydra's config
into a ``Config``, holds a GPU slot when a sweep shares several GPUs, and maps each error to one
line and an exit status.

Exit status (one run): 0 done (or already done), 1 the run failed or its results cannot be
written, 2 invalid config, 75 (EX_TEMPFAIL) the same run is in progress in another process, which
will write its record. In a multirun the last two are one line each and the sweep goes on.
"""

from __future__ import annotations

import sys

from harness import records
from harness.config import CONF_PACKAGE, register_configs, sweep_name_problem, to_config
from harness.errors import ConfigError
from harness.run.devices import current_job_num, job_device
from harness.run.state import Log
from harness.run.train import run
from harness.shapes.resolvers import register_resolvers


def _is_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:
        return False


def task(dcfg) -> float | None:
    """The Hydra task: one run. Errors in a multirun are recorded and never stop the sweep."""
    multirun = _is_multirun()
    try:
        cfg = to_config(dcfg)
        # Several GPUs and device=auto: each sweep job holds its own GPU slot while it runs.
        with job_device(cfg.device, cfg.out_dir, cfg.sweep_name, current_job_num(), cfg.sweep.runs_per_gpu,
                        log=Log(cfg.logging.quiet)) as device:
            cfg.device = device
            rec = run(cfg, multirun=multirun)
    except ConfigError as e:
        print(f"harness-train: invalid config: {e}", file=sys.stderr, flush=True)
        if multirun:
            return None
        sys.exit(2)
    except records.ResultsNotWritable as e:
        # In a sweep, the next jobs go on (their own check says the same, before any training).
        print(f"harness-train: {e}", file=sys.stderr, flush=True)
        if multirun:
            return None
        sys.exit(1)
    except records.RunInProgress as e:
        # Not a failure: the other process is training this run and will write its record, so
        # a sweep goes on (its summary finds the record, or lists the run as still running).
        # Alone, exit 75 (EX_TEMPFAIL: try again later).
        print(f"harness-train: {e}; nothing to do here", file=sys.stderr, flush=True)
        if multirun:
            return None
        sys.exit(75)
    if rec.status == "failed" and not multirun:
        print(f"harness-train: run failed: {rec.reason}", file=sys.stderr, flush=True)
        sys.exit(1)
    return rec.val_loss


def main() -> None:
    import hydra  # on use: hydra's import is the slowest part of a command's start

    # Hydra makes <out_dir>/<sweep_name>/hydra/ before the run's config is validated, so a
    # command-line sweep_name that would put it outside out_dir is refused first.
    for arg in sys.argv[1:]:
        key, eq, value = arg.lstrip("+~").partition("=")
        problem = sweep_name_problem(value.strip("'\"")) if eq and key == "sweep_name" else None
        if problem:
            print(f"harness-train: invalid config: sweep_name: {problem}", file=sys.stderr, flush=True)
            sys.exit(2)
    register_configs()
    register_resolvers()
    # The configs ship inside the package (harness.conf), so an installed harness finds them
    # from any folder: Hydra's documented way for an installed app.
    hydra.main(config_path="pkg://" + CONF_PACKAGE, config_name="config", version_base="1.3")(task)()


if __name__ == "__main__":
    main()
