"""The default data: a generated language whose exact per-token probabilities are known.

The language
------------
A document is ``seq_len + 1`` tokens over a vocabulary of ``V = data.vocab_size`` tokens, and every
training or validation sequence is exactly one document, so a token's exact conditional
probability depends only on the tokens before it in the same sequence.

1. A topic ``k`` is drawn from a Zipf prior over ``K = data.n_topics`` topics,
   ``p(k) ∝ k^-topic_zipf``.
2. The first token is drawn from the token popularity ``q(v) ∝ (v+1)^-token_zipf`` (the same for
   every topic, so it says nothing about the topic; it is never a prediction target).
3. Each next token follows the previous one through a Markov chain. With probability
   ``shared_weight`` the step uses the *shared* chain, common to all topics; otherwise it uses
   the topic's own chain. In both chains every token has ``S = data.n_successors`` successor
   slots with weights ``∝ r^-successor_zipf`` (slot rank ``r``), each slot's token drawn from
   ``q`` (popular tokens are everybody's successors, so token frequencies are Zipf-like, as in
   text; a token drawn into two slots of a row holds both weights).

So topic ``k``'s transition matrix is ``P_k = shared_weight · G + (1 - shared_weight) · T_k``.
Everything is drawn from ``data.seed`` (numpy's PCG64 seeded with ``[data.seed, stream]``), so the
data config alone fixes the language and the validation set; the run seed orders the training
stream only.

Why this shape. The structure sits at several scales, each worth a different slice of the loss
and each needing a different amount of data and capacity, which is what makes loss curves power
laws instead of steps. At the defaults (V=128, K=128, S=4, topic_zipf=1.4, successor_zipf=1.0,
token_zipf=1.0, shared_weight=0, seq_len=64) the ladder, computed exactly on the validation set,
is: ``ln V`` = 4.85; the unigram entropy 3.74; a topic-agnostic bigram (every topic lumped into
one mixture chain) 2.94; a predictor that knows the first n topics exactly and lumps the rest
2.49 (n=1), 2.19 (2), 1.98 (4), 1.73 (8), 1.51 (16), 1.35 (32), 1.29 (64); Bayes 1.21 (n=128).

- The token popularity (Zipf, exponent 1) is seen in every document: a tiny model learns the
  unigram and most of the topic-agnostic bigram in its first few hundred thousand tokens, which
  takes the loss well below ``ln V`` early. The prototype this replaced (V=256, K=256, S=8,
  uniform popularity) had a flat unigram and a near-uniform mixture bigram, and sat on a
  plateau near ``ln V`` for its first millions of tokens (results/synthetic_tuning.md compares it).
- Each topic's chain is a table of ``V · S`` transitions that must be stored (capacity: N) and
  seen often enough to be learnt (data: ``p(k) · D`` tokens of it). Topics are Zipf-distributed,
  so a model that has learnt the first ``n`` topics still pays for the tail
  ``Σ_{k>n} p(k) ∝ n^(1 - topic_zipf)``. If capacity bounds ``n ∝ N`` and data bounds
  ``n ∝ D^(1/topic_zipf)``, the reducible loss falls roughly as ``N^-(topic_zipf - 1)`` and
  ``D^-(topic_zipf - 1)/topic_zipf`` (0.4 and 0.29 at the defaults) until the K-th topic: the
  rarer topics are what bigger models and longer runs keep learning. Fewer successors and a
  smaller vocabulary than the prototype make each topic cheap enough that demo-sized models
  learn several of them.
- Within a document the topic is inferred in context (the posterior sharpens token by token),
  which rewards attention and depth, not just a bigram table.
- ``shared_weight`` adds a chain common to all topics (structure every document teaches). The
  tuned defaults do not need it (the Zipf popularity already removes the plateau) and keep it
  at 0; it stays a knob for studies that want a larger early, shared slice of the loss.

Exact probabilities. ``Language.conditional_probs`` runs the forward recursion over topics: the
posterior ``π_t(k) ∝ p(k) Π_{s≤t} P_k[x_{s-1}, x_s]`` is updated token by token, and
``p(x_t | x_<t) = Σ_k π_{t-1}(k) P_k[x_{t-1}, x_t]``. ``bayes_loss`` is the mean of
``-log p(x_t | x_<t)`` over positions 1..seq_len of the validation set: no model can do better on
it in expectation, so ``val_loss - bayes_loss`` is the reducible loss.

Measured at the defaults (results/synthetic_tuning.md has every run and the protocol: gpt2
arch, tied embeddings, batch 32 x 64, AdamW lr 3e-3, 5% warmup then cosine to 10%, one thread of
a loaded 2-core CPU). Bayes loss of the default validation set: 1.2136 nats (ln V = 4.852).

- IsoFLOP (C = 6 · N_total · D), best loss per budget: 1e11 -> 2.469 (6.4K params; 11.9K gives
  2.484, 18.9K 2.570); 3e11 -> 2.049 (18.9K); 1e12 -> 1.779 (31.6K); 3e12 -> 1.589 (65.9K, with
  31.6K at 1.629 and 112K at 1.606 either side). The minimum moves to larger N as C grows, at
  about 115-400 tokens per parameter: more data-hungry than text, but every run ends far below
  ln V (1.7-3.3 nats) and above the Bayes loss.
- Loss against N at D = 1.0M tokens: 2.877, 2.666, 2.494, 2.408, 2.179, 2.069, 1.908, 1.835 for
  N_total = 6.4K, 11.9K, 18.9K, 31.6K, 65.9K, 112K, 242K, 421K (log-log slope of the reducible
  loss: -0.24).
- Loss against D for d48 L2 (65.9K): 2.957, 2.310, 1.829, 1.589 at 0.25M, 0.76M, 2.5M, 7.6M tokens
  (slope of the reducible loss: -0.46).
- Generation: building the language 3-27 ms; a 32 x 65 batch 0.26-0.33 ms; the validation set's
  Bayes loss 0.12 s (computed once, on first use).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import numpy as np
import torch

from harness.config import SyntheticDataConfig
from harness.data import epoch_indices

# Bump when anything below changes the tokens drawn from the same config.
GENERATOR_VERSION = "synthetic-2"

# Independent RNG streams under data.seed: the language, the validation set, the fresh training
# stream and the fixed repeated training set never share random numbers.
_LANGUAGE, _VAL, _TRAIN, _REPEATED = 0, 1, 2, 3
_CHUNK = 1024  # sequences per forward-recursion chunk: bounds memory at chunk · K · slots


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


def _cdf(p: np.ndarray) -> np.ndarray:
    c = np.cumsum(p)
    c[-1] = 1.0  # so a uniform draw in [0, 1) always lands inside
    return c


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    # side="right": a slot with zero probability (an empty cdf step) is never chosen
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


def _successors(rng: np.random.Generator, cdf: np.ndarray, rows: int, s: int) -> np.ndarray:
    """``rows`` × ``s`` tokens drawn independently from the popularity ``cdf``. A token drawn twice
    in one row simply holds the sum of its slots' weights: the chain stays exact, and drawing
    with replacement keeps building the language cheap (no per-row sort)."""
    return _draw(cdf, rng.random((rows, s))).astype(np.int32)


class Language:
    """The language of a data config: its topic prior, start distribution and transition tables.

    Transitions are stored sparsely as ``succ[k, a, j]`` (the token in slot ``j`` after ``a`` in
    topic ``k``) with slot probabilities ``slot_p[j]`` shared by every row: slots ``0..S-1`` are
    the shared chain's (when ``shared_weight > 0``), the rest the topic's own.
    """

    def __init__(self, cfg: SyntheticDataConfig):
        v, k, s = cfg.vocab_size, cfg.n_topics, cfg.n_successors
        if not 1 <= s <= v:
            raise ValueError(f"data.n_successors: must be between 1 and vocab_size={v}, got {s}")
        if not 0.0 <= cfg.shared_weight <= 1.0:
            raise ValueError(f"data.shared_weight: must be in [0, 1], got {cfg.shared_weight}")
        rng = np.random.default_rng([cfg.seed, _LANGUAGE])
        self.vocab_size, self.n_topics = v, k
        self.topic_prior = _zipf(k, cfg.topic_zipf)
        self.start = _zipf(v, cfg.token_zipf)
        w = _zipf(s, cfg.successor_zipf)
        start_cdf = _cdf(self.start)
        shared = _successors(rng, start_cdf, v, s)
        own = _successors(rng, start_cdf, k * v, s).reshape(k, v, s)
        if cfg.shared_weight > 0:
            self.succ = np.concatenate([np.broadcast_to(shared, (k, v, s)), own], axis=2)
            self.slot_p = np.concatenate([cfg.shared_weight * w, (1 - cfg.shared_weight) * w])
        else:
            self.succ, self.slot_p = own, w
        self.succ = np.ascontiguousarray(self.succ)
        self._flat = self.succ.reshape(-1)
        self._by_prev = np.ascontiguousarray(self.succ.transpose(1, 0, 2))  # [a, k, slot]
        self._topic_cdf, self._start_cdf, self._slot_cdf = (
            _cdf(self.topic_prior), start_cdf, _cdf(self.slot_p))

    @property
    def n_slots(self) -> int:
        return self.succ.shape[2]

    def sample(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """``n`` documents of ``length`` tokens: int64 [n, length]."""
        m, v = self.n_slots, self.vocab_size
        topic = _draw(self._topic_cdf, rng.random(n))
        # Position-major, so each step reads and writes one contiguous row.
        x = np.empty((length, n), dtype=np.int32)
        x[0] = _draw(self._start_cdf, rng.random(n))
        # All random numbers up front; the loop is then one gather per position.
        base = topic * (v * m) + _draw(self._slot_cdf, rng.random((length - 1, n)))
        idx = np.empty(n, dtype=np.int64)
        for t in range(1, length):
            np.multiply(x[t - 1], m, out=idx)
            idx += base[t - 1]
            np.take(self._flat, idx, out=x[t])
        return np.ascontiguousarray(x.T, dtype=np.int64)

    def transition_matrices(self) -> np.ndarray:
        """Dense ``P[k, a, b]`` (float64 [K, V, V]); for small languages and checks."""
        k, v, m = self.succ.shape
        p = np.zeros((k, v, v))
        kk, aa = np.meshgrid(np.arange(k), np.arange(v), indexing="ij")
        for j in range(m):
            np.add.at(p, (kk, aa, self.succ[:, :, j]), self.slot_p[j])
        return p

    def _likelihoods(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """``P_k[prev_i, nxt_i]`` for every topic: float64 [n, K]."""
        rows = self._by_prev[prev]  # [n, K, slot]
        return (rows == nxt[:, None, None]) @ self.slot_p

    def conditional_probs(self, x: np.ndarray) -> np.ndarray:
        """Exact ``p(x_t | x_<t)`` for t = 1..T-1 of documents ``x`` (int [n, T]): float64 [n, T-1]."""
        x = np.asarray(x)
        out = np.empty((x.shape[0], x.shape[1] - 1))
        for lo in range(0, x.shape[0], _CHUNK):
            xs = x[lo:lo + _CHUNK]
            post = np.broadcast_to(self.topic_prior, (xs.shape[0], self.n_topics))
            for t in range(1, xs.shape[1]):
                joint = post * self._likelihoods(xs[:, t - 1], xs[:, t])
                p = joint.sum(axis=1)
                out[lo:lo + len(xs), t - 1] = p
                post = joint / p[:, None]
        return out

    def next_token_dists(self, x: np.ndarray) -> np.ndarray:
        """Exact ``p(· | x_<t)`` for t = 1..T-1 (float64 [n, T-1, V]); dense, for small languages."""
        x = np.asarray(x)
        mats = self.transition_matrices()
        n, length = x.shape
        out = np.empty((n, length - 1, self.vocab_size))
        post = np.broadcast_to(self.topic_prior, (n, self.n_topics))
        for t in range(1, length):
            rows = mats[:, x[:, t - 1], :].transpose(1, 0, 2)  # [n, K, V]
            out[:, t - 1] = np.einsum("nk,nkv->nv", post, rows)
            joint = post * rows[np.arange(n), :, x[:, t]]
            post = joint / joint.sum(axis=1, keepdims=True)
        return out


# Fields that do not change the tokens (none yet, but kind is a type tag, not content).
_NOT_CONTENT = ("kind",)


def fingerprint_of(cfg: SyntheticDataConfig) -> str:
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_CONTENT}
    blob = json.dumps({"generator": GENERATOR_VERSION, **fields}, sort_keys=True, default=str)
    return "synthetic-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _language(key: str, cfg_json: str) -> Language:
    # Keyed by the fingerprint; cfg_json rebuilds the config (dataclasses are not hashable).
    return Language(SyntheticDataConfig(**json.loads(cfg_json)))


class SyntheticSource:
    """``TokenSource`` over the synthetic language (see the module docstring)."""

    def __init__(self, cfg: SyntheticDataConfig, seed: int):
        if cfg.seq_len < 1:
            raise ValueError(f"data.seq_len: must be at least 1, got {cfg.seq_len}")
        self.cfg, self.seed = cfg, int(seed)
        self.vocab_size, self.seq_len = cfg.vocab_size, cfg.seq_len
        self.fingerprint = fingerprint_of(cfg)
        plain = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
        self.language = _language(self.fingerprint, json.dumps(plain, default=str))
        self._bayes: float | None = None
        self._val: torch.Tensor | None = None
        self._repeated: np.ndarray | None = None
        self.unique_tokens: int | None = None
        self.epoch_tokens: int | None = None  # fresh documents every step: no epochs
        if cfg.unique_tokens is not None:
            self._n_docs = cfg.unique_tokens // (cfg.seq_len + 1)
            if self._n_docs < 1:
                raise ValueError(f"data.unique_tokens: {cfg.unique_tokens} is fewer than one document "
                                 f"of data.seq_len+1={cfg.seq_len + 1} tokens")
            # Predicted tokens per pass, so tokens_trained / unique_tokens counts epochs exactly.
            self.unique_tokens = self._n_docs * cfg.seq_len
            self.epoch_tokens = self.unique_tokens

    @property
    def bayes_loss(self) -> float:
        if self._bayes is None:
            p = self.language.conditional_probs(self.val_tokens().numpy())
            self._bayes = float(-np.log(p).mean())
        return self._bayes

    def train_batch(self, step: int, batch_size: int) -> torch.Tensor:
        if self.unique_tokens is not None:
            if self._repeated is None:
                rng = np.random.default_rng([self.cfg.seed, _REPEATED])
                self._repeated = self.language.sample(rng, self._n_docs, self.seq_len + 1)
            idx = epoch_indices(self._n_docs, step * batch_size, batch_size, self.seed)
            return torch.from_numpy(self._repeated[idx])
        rng = np.random.default_rng([self.cfg.seed, _TRAIN, self.seed, step])
        return torch.from_numpy(self.language.sample(rng, batch_size, self.seq_len + 1))

    def val_tokens(self) -> torch.Tensor:
        if self._val is None:
            rng = np.random.default_rng([self.cfg.seed, _VAL])
            self._val = torch.from_numpy(self.language.sample(rng, self.cfg.val_sequences, self.seq_len + 1))
        return self._val.clone()
