"""A sweep's jobs, expanded exactly as Hydra's basic sweeper and launcher do it.

The planner (before a sweep) and the end-of-sweep callback (inside one) both need the list of
runs a multirun launches. Rather than re-implement Hydra's grammar, this uses Hydra's own pieces:
its override parser, ``BasicSweeper._parse_config`` + ``BasicSweeper.split_arguments`` for the
grid (preset ``hydra.sweeper.params`` first, command-line arguments after, a later key replacing
an earlier one), and the config loader's ``load_sweep_config`` for each job's config, which is
what every launcher calls to build a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from harness.config import CONF_PACKAGE, Config, register_configs, to_config
from harness.errors import ConfigError, SweepError
from harness.shapes import design
from harness.shapes.resolvers import register_resolvers

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


@dataclass
class Job:
    num: int  # Hydra's job number (hydra.job.num)
    overrides: list[str]  # the job's task overrides, as Hydra passes them to the launcher
    cfg: Config | None  # the job's typed config; None when it does not compose or type-check
    error: str | None = None  # why cfg is None (the run itself would be recorded as failed)


def split_cli(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Command-line overrides split into Hydra's own (hydra.*, hydra/...) and the task's."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(args))
    except OverrideParseException as e:
        raise SweepError(str(e).strip().splitlines()[0]) from None
    hydra_ovr = [o.input_line for o in parsed if o.is_hydra_override()]
    task = [o.input_line for o in parsed if not o.is_hydra_override()]
    return hydra_ovr, task


def job_override_lists(master: DictConfig, task_overrides: Sequence[str]) -> list[list[str]]:
    """The grid: one list of overrides per job, in Hydra's job order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    target = OmegaConf.select(master, "hydra.sweeper._target_")
    if target != BASIC_SWEEPER:
        raise SweepError(f"hydra/sweeper: only the basic sweeper's grid can be expanded, not {target}")
    node = OmegaConf.select(master, "hydra.sweeper.params")
    # Resolved, as Hydra resolves the sweeper config when it instantiates it: an IsoFLOP design
    # writes its (budget, shape) pairs here through a resolver (harness/shapes/design.py).

    exit_on_error, design.EXIT_ON_ERROR = design.EXIT_ON_ERROR, False
    try:
        params = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    except Exception as e:  # a resolver error (DesignError) surfaces as one line naming the key
        msg = _first_line(e).split("raised while resolving interpolation: ", 1)[-1]
        raise SweepError(msg.split("    full_key:")[0].strip()) from None
    finally:
        design.EXIT_ON_ERROR = exit_on_error
    sweeper = BasicSweeper(max_batch_size=None, params=params)
    lines = sweeper._parse_config() + list(task_overrides)
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
        (jobs,) = BasicSweeper.split_arguments(parsed, None)
    except HydraException as e:
        raise SweepError(str(e).strip().splitlines()[0]) from None
    return jobs


def job_config(master: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """A job's task config as the launcher composes it (without the hydra node)."""
    from hydra.core.global_hydra import GlobalHydra

    cfg = GlobalHydra.instance().config_loader().load_sweep_config(master, list(overrides))
    # As hydra.core.utils.run_job does: the same object minus its hydra node, types kept.
    from omegaconf import open_dict, read_write

    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg


def jobs_of(master: DictConfig, task_overrides: Sequence[str], select=None) -> list[Job]:
    """Every job with its config; ``select(num, n)`` False leaves a job uncomposed (cfg None),
    since composing costs Hydra a few tenths of a second per job."""
    out: list[Job] = []
    lists = job_override_lists(master, task_overrides)
    for num, ovr in enumerate(lists):
        if select is not None and not select(num, len(lists)):
            out.append(Job(num, ovr, None, "not composed"))
            continue
        try:
            out.append(Job(num, ovr, to_config(job_config(master, ovr))))
        except ConfigError as e:
            out.append(Job(num, ovr, None, f"invalid config: {e}"))
        except Exception as e:  # a composition error is per job: the sweep would record it as failed
            out.append(Job(num, ovr, None, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__))
    return out


def expand(args: Sequence[str], select=None) -> tuple[DictConfig, list[Job]]:
    """Outside a Hydra app (the planner): the master config and every job of ``harness-train -m args``."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    register_resolvers()
    args = [a for a in args if a not in ("-m", "--multirun")]
    hydra_ovr, task = split_cli(args)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed_task = OverridesParser.create().parse_overrides(task)
    base = [o.input_line for o in parsed_task if not o.is_sweep_override()]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONF_PACKAGE, version_base="1.3", job_name="harness-plan"):
            master = compose("config", overrides=hydra_ovr + base, return_hydra_config=True)
            return master, jobs_of(master, task, select)
    except (HydraException, OmegaConfBaseException) as e:
        raise SweepError(_first_line(e)) from None


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else type(e).__name__

