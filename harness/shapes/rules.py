"""Per-size hyperparameters: learning rate, batch size and warmup as functions of N.

The form follows Porian et al. 2024 ("Resolving Discrepancies in Compute-Optimal Scaling of
Language Models", section 4 and appendix): with AdamW tuned per model size, the optimal peak
learning rate falls and the optimal batch size grows as power laws in the model size N, and a
warmup of about N tokens (instead of Kaplan's fixed 3000 steps) keeps small models from spending
a large share of their budget warming up. Here N is the non-embedding parameter count (Kaplan's),
the quantity the size ladder is built on.

    lr(N)         = lr_ref * (N / 1e5) ** lr_exp                 (lr_exp < 0)
    batch(N)      = tokens_ref * (N / 1e5) ** batch_exp tokens, as sequences of data.seq_len,
                    rounded to a power of two and clamped to [min_seqs, max_seqs]
    warmup(N)     = warmup_mult * N tokens

The exponents come from the paper; the constants (lr_ref, tokens_ref) are calibrated for this
harness's tiny models and live in the YAML (conf/sweep/hparams/porian.yaml), not here, so a study
can restate the rule. They are OmegaConf resolvers, so the YAML reads
``lr: ${hp.lr:${model},...}`` and any override (``optim.lr=1e-3``) simply replaces the value.

Tuning sweeps (conf/sweep/lr_tune.yaml) need a grid that follows each shape: ``${hp.lr_x:m,lr_ref,lr_exp}``
is the rule's rate for the config's own model times m. It reads the model from the config root, so
the same value works in a YAML file and on the command line (whose override grammar cannot nest
``${model}``). The options of the config group conf/lr_mult/ (x0.125 .. x8) set optim.lr with it,
and lr_tune sweeps that group: a group, not a swept list of such strings, because the launcher
resolves the sweeper's params once against the base config, before each job has its model.
"""

from __future__ import annotations

import math
from typing import Any

from harness.config import ModelConfig
from harness.flops import param_counts

N_REF = 1e5


def non_embedding_params(model: Any) -> int:
    """Kaplan's N for a model config (a ModelConfig or its DictConfig); vocabulary and context do
    not enter the non-embedding count, so placeholders stand in for them."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(model, DictConfig):
        model = ModelConfig(**OmegaConf.to_container(model, resolve=True))
    return param_counts(model.shape(vocab_size=2, seq_len=1)).non_embedding


def lr_rule(n: float, lr_ref: float, lr_exp: float) -> float:
    # Three significant digits: the value lands in the record and the run_id, and a readable
    # number there is worth more than precision the rule does not have.
    return float(f"{lr_ref * (n / N_REF) ** lr_exp:.3g}")


def lr_times_rule(mult: float, n: float, lr_ref: float, lr_exp: float) -> float:
    """m x the rule's rate, rounded like the rule's own (the rounding is done once, after the
    product, so x2 grid points stay x2 apart to three digits)."""
    return float(f"{mult * lr_ref * (n / N_REF) ** lr_exp:.3g}")


def batch_rule(n: float, seq_len: int, tokens_ref: float, batch_exp: float, min_seqs: int, max_seqs: int) -> int:
    seqs = tokens_ref * (n / N_REF) ** batch_exp / seq_len
    pow2 = 2 ** round(math.log2(max(seqs, 1.0)))
    return int(min(max(pow2, min_seqs), max_seqs))


def warmup_rule(n: float, warmup_mult: float) -> int:
    return int(round(warmup_mult * n))


def width_for(n_layer: int, target_n: float, head_size: int = 16) -> int:
    """The gpt2 width (a multiple of head_size) whose n_layer blocks hold about target_n parameters
    (12 d^2 per block): the shape preset's fixed-N family of depths."""
    return head_size * max(1, round(math.sqrt(target_n / (12 * n_layer)) / head_size))
