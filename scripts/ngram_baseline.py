"""Unigram and bigram reference losses for a text data config: the yardsticks the ELTeC study pages
quote ("the best transformer is still worse than a bigram table").

Both count models are estimated on the training split's tokens (the same BPE and the same cache a
run uses) and scored on exactly the validation windows a run is scored on: the first
``data.val_sequences`` windows of ``seq_len + 1`` tokens, each predicting its last ``seq_len``
tokens. The bigram is interpolated Kneser-Ney (absolute discount 0.75, continuation unigram), the
usual smoothed count model; the unigram is add-one smoothed. Losses are in nats per token, like
``val_loss`` in the run records.

    python scripts/ngram_baseline.py data=eltec data.vocab_size=1024 --out results/eltec_isoflop_cpu/ngram_baseline.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DISCOUNT = 0.75


def unigram_loss(train: np.ndarray, targets: np.ndarray, vocab: int) -> float:
    counts = np.bincount(train, minlength=vocab).astype(float) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[targets].mean())


def kneser_ney_bigram_loss(train: np.ndarray, prev: np.ndarray, nxt: np.ndarray, vocab: int) -> float:
    """Interpolated Kneser-Ney: P(w|v) = max(c(v,w) - d, 0)/c(v) + d·T(v)/c(v) · P_cont(w)."""
    pair = train[:-1].astype(np.int64) * vocab + train[1:]
    uniq_pairs, pair_counts = np.unique(pair, return_counts=True)
    ctx_count = np.bincount(uniq_pairs // vocab, weights=pair_counts, minlength=vocab)
    ctx_types = np.bincount(uniq_pairs // vocab, minlength=vocab).astype(float)
    # Continuation probability: in how many distinct contexts a word appears (add-one so no zero).
    cont = np.bincount(uniq_pairs % vocab, minlength=vocab).astype(float) + 1.0
    p_cont = cont / cont.sum()

    query = prev.astype(np.int64) * vocab + nxt
    pos = np.searchsorted(uniq_pairs, query)
    pos = np.minimum(pos, len(uniq_pairs) - 1)
    c_vw = np.where(uniq_pairs[pos] == query, pair_counts[pos], 0).astype(float)
    c_v, t_v = ctx_count[prev], ctx_types[prev]
    seen = c_v > 0
    p = np.where(seen, np.maximum(c_vw - DISCOUNT, 0.0) / np.where(seen, c_v, 1.0)
                 + DISCOUNT * t_v / np.where(seen, c_v, 1.0) * p_cont[nxt], p_cont[nxt])
    return float(-np.log(p).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="Hydra overrides selecting the data config, e.g. data=eltec")
    ap.add_argument("--out", default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)

    from hydra import compose, initialize_config_dir

    from harness.config import register_configs, to_config
    from harness.data.text import TextSource

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = to_config(compose(config_name="config", overrides=list(args.overrides)))
    if getattr(cfg.data, "kind", None) != "text":
        print("ngram_baseline: needs a text data config (data=eltec, data=text_files, ...)", file=sys.stderr)
        return 2
    src = TextSource(cfg.data, seed=cfg.seed)
    train = np.asarray(src._train.tokens, dtype=np.int64)
    windows = src.val_tokens().numpy()
    prev, nxt = windows[:, :-1].ravel(), windows[:, 1:].ravel()
    v = src.vocab_size
    out = {
        "overrides": list(args.overrides),
        "data_fingerprint": src.fingerprint,
        "vocab_size": v,
        "train_tokens": int(len(train)),
        "val_windows": int(windows.shape[0]),
        "val_targets": int(nxt.size),
        "unigram_loss": unigram_loss(train, nxt, v),
        "bigram_kneser_ney_loss": kneser_ney_bigram_loss(train, prev, nxt, v),
        "uniform_loss": float(np.log(v)),
    }
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
