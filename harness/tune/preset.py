"""The per-size rule as a preset file: read the reference rule a grid was centred on, and write the
tuned rule in the form of conf/sweep/hparams/porian.yaml so any sweep loads it with
``sweep/hparams@hparams=<name>`` in a sweep whose defaults name hparams (``+sweep/hparams=<name>``
for a run with no preset)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from harness.errors import TuningError
from harness.files import atomic_write_text
from harness.tune.analysis import TuningResult

# The rule's lr line: ${hp.lr:${model},<lr_ref>,<lr_exp>}
_LR_RULE = re.compile(r"\$\{hp\.lr:\$\{model\},\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*\}")
PRESETS_DIR = ("sweep", "hparams")  # the group, under the configs' root


def conf_root() -> Path:
    """The configs' root (conf/, installed as the package harness.conf)."""
    from importlib.resources import files

    return Path(str(files("harness.conf")))


def preset_path(name: str) -> Path:
    """A preset by name (conf/sweep/hparams/<name>.yaml) or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return conf_root().joinpath(*PRESETS_DIR, f"{name}.yaml")


def read_rule(name: str) -> dict[str, float]:
    """lr_ref and lr_exp of a preset's ``optim.lr`` rule; a one-line TuningError naming the file."""
    path = preset_path(name)
    try:
        text = path.read_text()
    except OSError as e:
        raise TuningError(f"{path}: cannot read the reference preset ({e.strerror or e})") from None
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.create(text)
        lr = OmegaConf.to_container(node, resolve=False).get("optim", {}).get("lr")
    except Exception as e:  # a YAML error's message runs over several lines
        raise TuningError(f"{path}: not a readable YAML preset ({type(e).__name__})") from None
    m = _LR_RULE.fullmatch(str(lr).strip()) if lr is not None else None
    if not m:
        raise TuningError(f"{path}: optim.lr is not a per-size rule ${{hp.lr:${{model}},lr_ref,lr_exp}} (got {lr!r})")
    return {"lr_ref": float(m.group(1)), "lr_exp": float(m.group(2))}


def render_preset(result: TuningResult, base: str = "porian", name: str = "tuned") -> str:
    """The tuned preset's text: the base preset with its lr rule replaced by the fitted one."""
    if result.law is None:
        raise TuningError(f"{result.source}: no lr*(N) law was fitted (fewer than two shapes with an interior "
                          "optimum), so there is no rule to write; extend the grids (harness-tune --extend)")
    path = preset_path(base)
    try:
        text = path.read_text()
    except OSError as e:
        raise TuningError(f"{path}: cannot read the base preset ({e.strerror or e})") from None
    law = result.law
    lr_line = f"${{hp.lr:${{model}},{law.c:.3g},{law.e:.3g}}}"
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    out_body, replaced = [], False
    for ln in body:
        if _LR_RULE.search(ln) and ln.strip().startswith("lr:"):
            ln = ln[: ln.index("lr:")] + "lr: " + lr_line
            replaced = True
        out_body.append(ln)
    if not replaced:
        raise TuningError(f"{path}: no 'lr: ${{hp.lr:...}}' line to replace")
    ref = result.reference
    shapes = ", ".join(f"{s.model} {s.lr_opt:.3g}" + (f" (edge: {s.edge})" if s.edge else "") for s in result.shapes)
    head = [
        "# @package _global_",
        f"# {name}: per-size hyperparameters with the peak learning rate TUNED, written by harness-tune",
        f"# (harness/tune/) from the tuning sweep {result.source} on {date.today().isoformat()}.",
        f"#   lr(N) = {law.c:.3g} * (N / 1e5)^{law.e:.3g}   (N non-embedding), fitted to the per-shape optima",
        f"#   of {len(law.shapes)} shapes (N {law.n_range[0]:.3g} .. {law.n_range[1]:.3g}); 95% intervals:",
        f"#   c [{law.c_ci[0]:.3g}, {law.c_ci[1]:.3g}], exponent [{law.e_ci[0]:.3g}, {law.e_ci[1]:.3g}].",
        f"#   Per-shape optima (parabola in log lr): {shapes}.",
    ]
    if ref:
        head.append(f"#   The grid was centred on {ref.get('preset', base)}'s {ref['lr_ref']:.3g} * (N / 1e5)^{ref['lr_exp']:.3g}.")
    head += [f"# Batch and warmup are {path.stem}'s rule, unchanged (not tuned here). Outside the tuned N range",
             "# the rate is an extrapolation. Load it: harness-train -m sweep=<preset> sweep/hparams@hparams=" + name,
             "# (a sweep whose defaults name hparams) or +sweep/hparams=" + name + " (a single run)."]
    return "\n".join(head + out_body) + "\n"


def write_preset(result: TuningResult, sweep_dir: Path, name: str, base: str = "porian",
                 install: bool = False) -> list[Path]:
    """Write the preset into the sweep folder (conf/sweep/hparams/<name>.yaml there, a config root
    Hydra can search) and, with install, into the project's conf/sweep/hparams/."""

    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise TuningError(f"--preset {name!r}: a preset name is letters, digits, '_', '-' and '.'")
    text = render_preset(result, base=base, name=name)
    paths = [Path(sweep_dir) / "conf" / Path(*PRESETS_DIR) / f"{name}.yaml"]
    if install:
        paths.append(conf_root().joinpath(*PRESETS_DIR, f"{name}.yaml"))
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, text)
    return paths
