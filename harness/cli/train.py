"""``harness-train``: one run, or with ``-m`` a Hydra sweep of runs, each to its record.

The run itself is the library ``harness.run.train.run(cfg)``; this module only turns Hydra's config
into a ``Config``, holds a GPU slot when a sweep shares several GPUs, and maps each error to one
line and an exit status.

Exit status (one run): 0 done (or already done), 1 the run failed or its results cannot be
written, 2 invalid config, 75 (EX_TEMPFAIL) the same run is in progress in another process, which
will write its record, 128 + N a signal N stopped it after saving its checkpoint (130 SIGINT, 143
SIGTERM). In a multirun invalid configs and runs in progress are one line each and the sweep goes
on; a signal ends the sweep.

Before Hydra starts, ``preflight`` composes the config the way Hydra will and refuses, in one line,
what would otherwise fail inside Hydra after it has made its output folder, or pass unnoticed: a
key no config declares (``+model.widht=64``), hydra/launcher=slurm where SLURM is not installed,
and a results folder (or Hydra's output folder) that cannot take files.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from harness import files, records
from harness.cli.common import interrupted
from harness.config import (
    CONF_PACKAGE,
    check_known_keys,
    register_configs,
    sweep_name_problem,
    to_config,
    unknown_key_message,
)
from harness.errors import ConfigError, ResultsNotWritable, RunInterrupted
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
    except RunInterrupted as e:
        # The checkpoint is saved; one line and 128 + the signal's number. In a sweep the exit ends
        # the sweep too: a SIGTERM from a scheduler or a Ctrl-C means stop, not go on to the next run.
        # A cluster job whose requeue the scheduler refused ends alone: its exit would make the
        # launching process re-raise the job's error with a traceback after the other jobs; the
        # sweep's summary lists the run as without a record, to resume by starting the sweep again.
        status = interrupted("harness-train", e)
        if multirun and e.by_scheduler:
            return None
        sys.exit(status)
    except KeyboardInterrupt:
        # Ctrl-C before the run's own handlers are in place (data or model setup): nothing to save.
        print("harness-train: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    if rec.status == "failed" and not multirun:
        print(f"harness-train: run failed: {rec.reason}", file=sys.stderr, flush=True)
        sys.exit(1)
    return rec.val_loss


# What submitit's SLURM launcher runs: sbatch submits the array, and it refuses to start without srun.
SLURM_COMMANDS = ("sbatch", "srun")
SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
# Hydra's options that change what is composed or print instead of running: left to Hydra alone.
_HYDRA_OWN = ("help", "hydra_help", "version", "cfg", "info", "shell_completion", "config_path", "config_name",
              "config_dir", "experimental_rerun")


def preflight(argv: Sequence[str]) -> None:
    """Compose the config of ``harness-train argv`` as Hydra will (a multirun without its swept
    values) and refuse, before Hydra writes anything: a key no config declares (ConfigError), the
    SLURM launcher without SLURM (ConfigError), a results or Hydra output folder that cannot take
    files (ResultsNotWritable). Whatever does not compose is left for Hydra to report its own way."""
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        args = get_args_parser().parse_args(list(argv))
    except SystemExit:  # a bad option: Hydra says so itself
        return
    if any(getattr(args, k, None) for k in _HYDRA_OWN):
        return
    try:
        master = _compose(args.overrides, multirun=bool(args.multirun))
    except (HydraException, OmegaConfBaseException) as e:
        problem = _unknown_key(e)
        if problem:
            raise ConfigError(problem) from None
        return
    if master is None:
        return
    check_known_keys(master)
    mode = OmegaConf.select(master, "hydra.mode", default=None)
    multirun = bool(args.multirun) or (not args.run and mode == RunMode.MULTIRUN)
    if multirun and OmegaConf.select(master, "hydra.launcher._target_", default=None) == SLURM_LAUNCHER:
        missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
        if missing:
            raise ConfigError(f"hydra/launcher=slurm needs SLURM's {' and '.join(missing)} on PATH; on one machine "
                              "use hydra/launcher=local_cluster (the same jobs through submitit) or hydra/launcher=joblib")
    _check_folders(master, multirun)


def _compose(overrides: Sequence[str], multirun: bool) -> Any:
    """The master config (with its hydra node) of these command-line overrides; in a multirun the
    swept ones are left out, as Hydra composes its master config. None when they do not parse."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException:
        return None
    kept = [o.input_line for o in parsed if not (multirun and o.is_sweep_override())]
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONF_PACKAGE, version_base="1.3", job_name="harness-train"):
        return compose("config", overrides=kept, return_hydra_config=True)


def _unknown_key(e: BaseException) -> str | None:
    """One line for a composition error that is a key no config declares (a typo on the command
    line or in a preset: Hydra's own message suggests ``+key=``, which would be the silent bug),
    naming the preset it came from; None for any other error."""
    # Hydra words an error inside a preset "In 'sweep/typo': ConfigKeyError raised while composing ...".
    head = str(e).split(":", 1)[0]
    preset = head[len("In '"):-1] if head.startswith("In '") and head.endswith("'") else None
    cause: BaseException | None = e
    while cause is not None:
        key, cls = getattr(cause, "full_key", None), getattr(cause, "object_type", None)
        if key and dataclasses.is_dataclass(cls) and str(cause).startswith("Key '") and " not in " in str(cause):
            return unknown_key_message(str(key), cls) + (f" (set in {preset})" if preset else "")
        cause = cause.__cause__ or cause.__context__
    return None


def _check_folders(master: Any, multirun: bool) -> None:
    """The results folder <out_dir>/<sweep_name> and the folder Hydra makes first (hydra.sweep.dir
    in a multirun, hydra.run.dir for one run) must take files: ResultsNotWritable names the one
    that does not. Hydra would otherwise fail making its folder, in a traceback, before any check."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        out_dir, name = OmegaConf.select(master, "out_dir"), OmegaConf.select(master, "sweep_name")
        hydra_dir = OmegaConf.select(master, "hydra.sweep.dir" if multirun else "hydra.run.dir")
    except OmegaConfBaseException:  # a folder that does not resolve: Hydra's own error says so
        return
    if out_dir is not None and name is not None:
        files.check_writable(Path(str(out_dir)) / str(name), is_dir=True)
    if hydra_dir is not None:
        files.check_writable(Path(str(hydra_dir)), is_dir=True)


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
    try:
        preflight(sys.argv[1:])
    except ConfigError as e:
        print(f"harness-train: invalid config: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except ResultsNotWritable as e:
        print(f"harness-train: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    # The configs ship inside the package (harness.conf), so an installed harness finds them
    # from any folder: Hydra's documented way for an installed app.
    hydra.main(config_path="pkg://" + CONF_PACKAGE, config_name="config", version_base="1.3")(task)()


if __name__ == "__main__":
    main()
