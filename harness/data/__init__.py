"""Token sources: where a run's training batches and its fixed validation set come from.

Two kinds, chosen by the data group (whose schema, harness.config.DATA_SCHEMAS, fixes ``data.kind``):

- ``synthetic`` (harness/data/synthetic.py): a generated language whose exact per-token
  probabilities are known, so the validation set's Bayes (irreducible) loss is known too.
- ``text`` (harness/data/text.py): documents loaded with `datasets` (hub or local files),
  a BPE tokenizer trained on the training split, tokens cached as memory-mapped files.

Both give a ``TokenSource``. Training batch ``k`` is a pure function of (data config, run seed,
k), so a resumed run picks up the data stream exactly where it stopped by knowing only its step.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np
import torch

from harness.config import DataConfig

# The reader of each kind of data (the kinds of harness.config.DATA_SCHEMAS), imported on use: the
# text reader pulls in `datasets` and `tokenizers`, which a synthetic run never needs.
SOURCES = {"synthetic": "harness.data.synthetic:SyntheticSource", "text": "harness.data.text:TextSource"}


class TokenSource(Protocol):
    vocab_size: int
    seq_len: int
    fingerprint: str  # identifies the exact token content (data config + corpus), for the record
    bayes_loss: float | None  # mean irreducible loss over the validation targets (synthetic only)
    unique_tokens: int | None  # size of the repeated training set when data.unique_tokens caps it
    # Tokens predicted in one pass over a finite training set (None for a generator that never
    # repeats), so that tokens trained / epoch_tokens counts epochs exactly.
    epoch_tokens: int | None

    def train_batch(self, step: int, batch_size: int) -> torch.Tensor:
        """Batch ``step`` of the training stream: int64 [batch_size, seq_len + 1]."""
        ...

    def val_tokens(self) -> torch.Tensor:
        """The fixed validation set: int64 [data.val_sequences, seq_len + 1]."""
        ...


def build_data(cfg: DataConfig, seed: int) -> TokenSource:
    """The token source for a (validated) data config; ``seed`` orders the training stream only."""
    module, name = SOURCES[cfg.kind].split(":")
    return getattr(importlib.import_module(module), name)(cfg, seed)


def epoch_indices(n_items: int, start: int, count: int, seed: int) -> np.ndarray:
    """Items ``start .. start+count-1`` of an endless stream that visits all ``n_items`` once per
    epoch, each epoch in a fresh random order (seeded by ``seed`` and the epoch number).

    Used wherever training data repeats: the position in the stream alone fixes what comes next.
    """
    out = np.empty(count, dtype=np.int64)
    pos = start
    filled = 0
    while filled < count:
        epoch, offset = divmod(pos, n_items)
        perm = np.random.default_rng([seed, epoch]).permutation(n_items)
        take = min(count - filled, n_items - offset)
        out[filled:filled + take] = perm[offset:offset + take]
        filled += take
        pos += take
    return out
