"""The size ladder: named model shapes from ~10K to ~250M non-embedding parameters.

Rule (one rung per factor 2.5 in N, so two rungs make a bit under half a decade):

* target N_k = 1e4 * 2.5**k non-embedding parameters (k = -1 .. 11: ladder_4xs .. ladder_6xl);
* depth: aspect ratio d_model / n_layer near 64 (Kaplan et al. 2020 found loss nearly flat over a
  wide range of aspect ratios, and ~64 sits in it), i.e. n_layer = round((N_k / (12 * 64**2))**(1/3)),
  but never fewer than 2 layers, because 1- and 2-layer transformers differ far more than shape
  alone (induction heads need two layers), which would put a kink in every curve over N;
* width: d_model = sqrt(N_k / (12 * n_layer)) (a gpt2 block has about 12 d^2 parameters), rounded
  to a multiple of 8 below 64, of 16 below 512, of 64 above (friendly to GPU kernels);
* heads of size 8 below d_model 64, 16 below 512, 64 above.

The dense ladder (``DENSE``, names ``dense_00`` .. ``dense_24``) puts a shape every factor
sqrt(2.5) ~ 1.58 in N, for IsoFLOP designs that pick several shapes around each budget's optimum
(harness/shapes/design.py): target N_j = 4e3 * 2.5**(j/2), so every even j has the target of a named
rung (dense_02 ~ ladder_3xs, dense_08 ~ ladder_s, ...). Same aspect-ratio logic, but at small widths
a multiple of 8 is too coarse for half-rungs, so each dense shape is the candidate nearest its
target (in log N) among depths n_layer0 - 1 .. n_layer0 + 1 (never below 2; n_layer0 from the rule
above) and widths on the same quanta with heads of the same sizes; a shape is never repeated (so
there is no dense_01: it would be dense_00 again). Dense
shapes are not YAML files: a design sets model.n_layer/d_model/n_head/name per run from
``dense_by_name`` (the rule lives here only).

The YAML files ``conf/model/ladder_<name>.yaml`` are generated from this rule
(``python -m harness.shapes.ladder``) and a test checks they still agree with it, so a shape is
always readable in its file and never silently drifts from the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from harness.config import ModelConfig, conf_dir
from harness.shapes.rules import non_embedding_params

NAMES = ("4xs", "3xs", "2xs", "xs", "s", "m", "l", "xl", "2xl", "3xl", "4xl", "5xl", "6xl")
BASE, STEP, ASPECT = 1e4, 2.5, 64


@dataclass(frozen=True)
class Rung:
    name: str  # ladder_<size>
    k: int
    target: float
    n_layer: int
    d_model: int
    n_head: int

    @property
    def non_embedding(self) -> int:
        return non_embedding_params(ModelConfig(n_layer=self.n_layer, d_model=self.d_model, n_head=self.n_head))


def _quantum(width: float) -> int:
    return 8 if width < 64 else (16 if width < 512 else 64)


def rung(i: int) -> Rung:
    k = i - 1  # ladder_4xs sits one rung below the 1e4 base
    target = BASE * STEP ** k
    n_layer = max(2, round((target / (12 * ASPECT ** 2)) ** (1 / 3)))
    raw = math.sqrt(target / (12 * n_layer))
    q = _quantum(raw)
    d_model = q * max(2, round(raw / q))
    head = 8 if d_model < 64 else (16 if d_model < 512 else 64)
    return Rung(f"ladder_{NAMES[i]}", k, target, n_layer, d_model, d_model // head)


LADDER: tuple[Rung, ...] = tuple(rung(k) for k in range(len(NAMES)))


def by_name(name: str) -> Rung:
    for r in LADDER:
        if r.name == name:
            return r
    raise KeyError(f"no ladder rung {name!r}; rungs: {', '.join(r.name for r in LADDER)}")


DENSE_BASE, DENSE_STEP, DENSE_COUNT = 4e3, math.sqrt(STEP), 25


def _head_size(d_model: int) -> int:
    return 8 if d_model < 64 else (16 if d_model < 512 else 64)


def _nonemb(n_layer: int, d_model: int) -> int:
    return non_embedding_params(ModelConfig(n_layer=n_layer, d_model=d_model, n_head=d_model // _head_size(d_model)))


def dense_rung(j: int) -> Rung:
    """Shape j of the dense ladder (target N = 4e3 * 2.5**(j/2) non-embedding parameters)."""
    target = DENSE_BASE * DENSE_STEP ** j
    depth0 = max(2, round((target / (12 * ASPECT ** 2)) ** (1 / 3)))
    best = None
    for n_layer in range(max(2, depth0 - 1), depth0 + 2):
        raw = math.sqrt(target / (12 * n_layer))
        q = _quantum(raw)
        for d_model in {q * max(2, math.floor(raw / q)), q * max(2, math.ceil(raw / q))}:
            miss = abs(math.log(_nonemb(n_layer, d_model) / target)) + 0.02 * abs(n_layer - depth0)
            if best is None or miss < best[0]:
                best = (miss, n_layer, d_model)
    _, n_layer, d_model = best
    return Rung(f"dense_{j:02d}", j, target, n_layer, d_model, d_model // _head_size(d_model))


def _dense() -> tuple[Rung, ...]:
    out: list[Rung] = []
    for j in range(DENSE_COUNT):
        r = dense_rung(j)
        if out and (r.n_layer, r.d_model) == (out[-1].n_layer, out[-1].d_model):
            continue  # a repeat of the shape below (dense_01 repeats dense_00: widths of 8 are too coarse there)
        out.append(r)
    return tuple(out)


DENSE: tuple[Rung, ...] = _dense()


def dense_by_name(name: str) -> Rung:
    for r in DENSE:
        if r.name == name:
            return r
    raise KeyError(f"no dense ladder shape {name!r}; shapes: {DENSE[0].name} .. {DENSE[-1].name}")


def ladder_yaml(r: Rung) -> str:
    return (
        f"# {r.name}: rung {r.k} of the size ladder, target N = 1e4 x 2.5^{r.k} = {r.target:,.0f}; this shape has\n"
        f"# {r.non_embedding:,} non-embedding parameters as gpt2 (tied). Generated from the rule in\n"
        f"# harness/shapes/ladder.py (python -m harness.shapes.ladder); tests/sweep/test_sweep_config.py checks it.\n"
        f"# Per-size hyperparameters come from conf/sweep/hparams/porian.yaml, which the presets load.\n"
        f"defaults:\n  - model_schema\n  - _self_\n"
        f"name: {r.name}\narch: gpt2\nn_layer: {r.n_layer}\nd_model: {r.d_model}\nn_head: {r.n_head}\n")


def write_files(conf_model: Path | None = None) -> list[Path]:
    """Rewrite conf/model/ladder_*.yaml from the rule (into the configs harness is installed with)."""

    conf_model = conf_model or conf_dir() / "model"
    paths = []
    for r in LADDER:
        p = conf_model / f"{r.name}.yaml"
        p.write_text(ladder_yaml(r))
        paths.append(p)
    return paths


if __name__ == "__main__":
    for p in write_files():
        print(p)
