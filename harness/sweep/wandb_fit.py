"""The end-of-sweep fit in Weights & Biases, beside the sweep's runs, so that a sweep's W&B page
shows its scaling law without a terminal.

When ``logging.wandb`` is not ``disabled``, the sweep callback (harness/sweep/callback.py) logs
each fit it writes as a W&B run of job type ``fit`` in the sweep's group (the group its training
runs are mirrored to: harness/run/wandb_mirror.py), holding

* ``fit/parameters``: a ``wandb.Table`` with one row per fitted parameter of each law, its value
  and 95% interval, and the compute-optimal allocation (N_opt, D_opt, tokens per parameter) at each
  budget the law allocates;
* ``fit/plots/<figure>``: the figures this fit wrote to ``plots/``, as ``wandb.Image``s;
* the same parameters in the run's summary (``<law>/<parameter>``), so runs tables can show them;
* an artifact ``fit-<sweep>`` of type ``scaling-law-fit`` with fit.json and report.md: a refit (the
  sweep started again, more runs) is a new version of it, ``latest`` the newest.

The files under the sweep folder stay the source of truth; W&B only mirrors them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from omegaconf import OmegaConf

from harness.fit.api import FitReport, result_key
from harness.sweep.fit_settings import FitSettings

JOB_TYPE = "fit"
ARTIFACT_TYPE = "scaling-law-fit"
TABLE_KEY = "fit/parameters"
PLOT_PREFIX = "fit/plots/"
COLUMNS = ["law", "parameter", "value", "ci_low", "ci_high", "n_points", "flops_convention"]


@dataclass(frozen=True)
class WandbTarget:
    """Where the sweep's runs were mirrored, so that the fit lands beside them."""

    mode: str  # offline | online
    project: str
    entity: str | None
    group: str  # the sweep name, the group of its training runs
    folder: Path  # where W&B writes locally (the sweep's folder, as for its runs)

    @classmethod
    def of(cls, config: Any) -> WandbTarget | None:
        """From the multirun's config (``logging.*``, ``out_dir``, ``sweep_name``); None when W&B is off."""
        mode = str(OmegaConf.select(config, "logging.wandb", default="disabled"))
        if mode == "disabled":
            return None
        entity = OmegaConf.select(config, "logging.entity", default=None)
        name = str(config.sweep_name)
        return cls(mode=mode, project=str(OmegaConf.select(config, "logging.project", default="harness")),
                   entity=None if entity is None else str(entity), group=name,
                   folder=Path(str(config.out_dir)) / name)


def _number(x: Any) -> float | None:
    """A table cell: finite floats as they are, a missing or non-finite one as an empty cell."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def parameter_rows(report: FitReport) -> list[list[Any]]:
    """One row per fitted parameter (with its interval, where the fit has one), then the
    allocation at each budget, for every law the fit ran."""
    rows: list[list[Any]] = []
    for r in report.results:
        key = result_key(r)

        def row(name: str, value: Any, ci: Any = None) -> None:
            lo, hi = (ci[0], ci[1]) if ci else (None, None)
            rows.append([key, name, _number(value), _number(lo), _number(hi), r.n_points, r.flops_convention])

        for name, value in r.params.items():
            row(name, value, r.ci.get(name))
        if r.allocation is not None:
            al = r.allocation
            for budget in al.n_opt:  # laws give an interval for tokens per parameter only
                row(f"N_opt@{budget}", al.n_opt[budget])
                row(f"D_opt@{budget}", al.d_opt[budget])
                row(f"tokens_per_param@{budget}", al.tokens_per_param[budget],
                    al.ci.get(f"tokens_per_param@{budget}"))
    return rows


def figures_on_disk(plots_dir: Path) -> dict[str, tuple[int, int, int]]:
    """The figures in ``plots_dir`` as they are now (inode, mtime, size), to tell afterwards which a fit wrote."""
    out = {}
    for p in Path(plots_dir).glob("*.png"):
        try:
            st = p.stat()
        except OSError:  # gone between the listing and the look
            continue
        out[p.stem] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def figures_written(plots_dir: Path, before: Mapping[str, tuple[int, int, int]]) -> dict[str, Path]:
    """The figures written to ``plots_dir`` since ``before`` was taken (``figures_on_disk``), by name.

    plots/ can also hold an earlier fit's figures (of a law that no longer fits), which must not be
    shown as this fit's. The fitter writes each figure by rename, so a figure it wrote has a new
    inode even where the file system's clock is too coarse to move its mtime."""
    now = figures_on_disk(plots_dir)
    return {name: Path(plots_dir) / f"{name}.png" for name, st in sorted(now.items()) if before.get(name) != st}


def artifact_name(sweep_name: str) -> str:
    """W&B artifact names take letters, digits, '-', '_' and '.': anything else becomes '_'."""
    return "fit-" + re.sub(r"[^A-Za-z0-9_.-]", "_", sweep_name)


def log_fit(report: FitReport, sweep_dir: Path, target: WandbTarget, figures: Mapping[str, Path],
            settings: FitSettings | None = None) -> str:
    """Log the fit written under ``sweep_dir`` (fit.json, report.md, and ``figures``: name -> png)
    as a ``fit`` run of the sweep's W&B group; returns the W&B run's id. Raises whatever wandb
    raises: the caller decides that a mirror that fails costs no result."""
    import wandb

    sweep_dir = Path(sweep_dir)
    config: dict[str, Any] = {"n_points": report.n_points, "param_convention": report.param_convention,
                              "flops_convention": report.flops_convention, "laws": [result_key(r) for r in report.results],
                              "skipped": report.skipped, "source": str(sweep_dir)}
    if settings is not None:
        config["settings"] = {"laws": list(settings.laws), "bootstrap": settings.bootstrap, "holdout": settings.holdout,
                              "tuning": settings.tuning, "undertuned_weight": settings.undertuned_weight}
    target.folder.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=target.project, entity=target.entity, group=target.group, job_type=JOB_TYPE,
                     name=f"{target.group} fit", mode=target.mode, dir=str(target.folder), config=config,
                     reinit="finish_previous")
    try:
        rows = parameter_rows(report)
        logged: dict[str, Any] = {TABLE_KEY: wandb.Table(columns=COLUMNS, data=rows)}
        for name, png in figures.items():
            logged[PLOT_PREFIX + name] = wandb.Image(str(png), caption=name)
        run.log(logged)
        run.summary.update({f"{law}/{name}": value for law, name, value, *_ in rows if value is not None})
        art = wandb.Artifact(artifact_name(target.group), type=ARTIFACT_TYPE,
                             metadata={"n_points": report.n_points, "flops_convention": report.flops_convention,
                                       "param_convention": report.param_convention})
        for name in ("fit.json", "report.md"):
            if (sweep_dir / name).is_file():
                art.add_file(str(sweep_dir / name), name=name)
        run.log_artifact(art)
    finally:
        run.finish()
    return str(run.id)
