"""Parameter counts and training FLOPs of a shape, under every convention the literature uses.

Pure arithmetic: no torch, no data. The run record, the sweep planner and the fitter all take
their numbers from here, so each convention has exactly one definition.

Conventions (training FLOPs, forward + backward, with backward = 2x forward throughout):

``6ND``
    6 x total parameters per token. The rule of thumb of Kaplan et al. 2020 (section 2.1) applied
    to every parameter, embeddings included; what Hoffmann et al. 2022 (Chinchilla) use for their
    fits (section 3, "C ~ 6ND") and what most later work quotes.
``6ND_nonemb``
    6 x non-embedding parameters per token: Kaplan et al. 2020's C = 6NBS with their N, which
    leaves out the token and position embeddings (and here also an untied output head).
``kaplan``
    Kaplan et al. 2020, Table 1: C_forward = 2N + 2 n_layer n_ctx d_attn per token, N
    non-embedding; training is 3x forward, so 6N + 6 n_layer n_ctx d_attn. n_ctx is the sequence
    length actually trained on (the attention cost depends on it, not on the position table).
``chinchilla``
    Hoffmann et al. 2022, Appendix F: the full count per sequence of S tokens: embeddings
    (2 S V d, the lookup written as a one-hot matmul), QKV projections, key @ query logits,
    softmax (3 H S^2), softmax @ value, output projection, dense block, final logits; training is
    3x forward. The paper's Table A4 ratios to 6ND only come out without the embedding and final
    logits terms (see ``chinchilla_forward_terms`` and tests/test_flops.py); we keep the full count,
    which is what the appendix writes down and what a GPU actually executes for the head.
"""

from __future__ import annotations

from dataclasses import dataclass

# The one vocabulary of the project: configs, records, the planner and the fitter all name FLOP
# counts and parameter counts with these strings.
CONVENTIONS: tuple[str, ...] = ("6ND", "6ND_nonemb", "kaplan", "chinchilla")
# Which N a budget or a fit uses ("embedding" and "head" are recorded too, but nobody scales with them).
PARAM_CONVENTIONS: tuple[str, ...] = ("total", "non_embedding")
ARCHS: tuple[str, ...] = ("gpt2", "llama")


def shape_label(n_layer: int, d_model: int) -> str:
    """How a shape without a ladder name is written in reports and flags: depth, then width."""
    return f"L{n_layer}d{d_model}"


@dataclass(frozen=True)
class Shape:
    """Everything about a model that its parameter and FLOP counts depend on.

    Plain fields only (``vars(shape)`` is written into the run record and ``Shape(**d)`` reads it
    back); derived sizes are properties.
    """

    arch: str  # gpt2 (learned positions, LayerNorm, GELU MLP, biases) | llama (RoPE, RMSNorm, SwiGLU, no biases)
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int
    n_ctx: int  # the model's context: rows of gpt2's position table
    seq_len: int  # the sequence length trained on; attention FLOPs scale with it
    vocab_size: int
    tied: bool  # output head shares the token embedding

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.d_model % self.n_head:
            raise ValueError(f"n_head: {self.n_head} heads do not divide d_model={self.d_model}")
        if self.seq_len > self.n_ctx:
            raise ValueError(f"seq_len: {self.seq_len} is above the model's context n_ctx={self.n_ctx}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_attn(self) -> int:
        """Kaplan's d_attn: the width of all heads together (= d_model for every shape here)."""
        return self.d_head * self.n_head

    @property
    def n_mlp_matrices(self) -> int:
        """gpt2's MLP is up + down; llama's SwiGLU adds a gate."""
        return 3 if self.arch == "llama" else 2


@dataclass(frozen=True)
class ParamCounts:
    total: int
    embedding: int  # token table, plus gpt2's position table
    head: int  # output projection; 0 when tied to the token embedding
    non_embedding: int  # Kaplan's N: total - embedding - head

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "embedding": self.embedding, "head": self.head,
                "non_embedding": self.non_embedding}


def param_counts(shape: Shape) -> ParamCounts:
    """Exact parameter counts of the transformers model ``harness.model.build_model`` makes."""
    d, f, v = shape.d_model, shape.d_ff, shape.vocab_size
    if shape.arch == "gpt2":
        embedding = v * d + shape.n_ctx * d
        attn = (d * 3 * d + 3 * d) + (d * d + d)  # fused QKV and output projection, with biases
        mlp = (d * f + f) + (f * d + d)
        norms = 2 * (2 * d)  # two LayerNorms, weight and bias
        final_norm = 2 * d
    else:
        embedding = v * d  # rotary positions have no parameters
        attn = 4 * d * d  # q, k, v, o; no biases; as many key/value heads as query heads
        mlp = 3 * d * f  # gate, up, down
        norms = 2 * d  # two RMSNorms, weight only
        final_norm = d
    head = 0 if shape.tied else v * d  # no bias on the head in either arch
    body = shape.n_layer * (attn + mlp + norms) + final_norm
    total = embedding + body + head
    return ParamCounts(total=total, embedding=embedding, head=head, non_embedding=body)


def chinchilla_forward_terms(shape: Shape) -> dict[str, float]:
    """Forward FLOPs of one sequence of ``seq_len`` tokens, term by term (Hoffmann et al. 2022, App. F).

    Multiply-accumulates count 2 FLOPs. Attention terms are for the full S x S score matrix, as in
    the paper (a causal kernel could skip half of it; the convention does not).
    """
    s, d, v, h = shape.seq_len, shape.d_model, shape.vocab_size, shape.n_head
    a = shape.d_attn
    L = shape.n_layer
    return {
        "embeddings": 2.0 * s * v * d,
        "attention_qkv": L * 2.0 * 3 * s * d * a,
        "attention_logits": L * 2.0 * s * s * a,
        "attention_softmax": L * 3.0 * h * s * s,
        "attention_reduce": L * 2.0 * s * s * a,
        "attention_project": L * 2.0 * s * a * d,
        "dense": L * 2.0 * s * shape.n_mlp_matrices * d * shape.d_ff,
        "logits": 2.0 * s * d * v,
    }


def flops_per_token(shape: Shape) -> dict[str, float]:
    """Training FLOPs (forward + backward) per token trained on, one entry per convention."""
    counts = param_counts(shape)
    chinchilla_fwd = sum(chinchilla_forward_terms(shape).values()) / shape.seq_len
    return {
        "6ND": 6.0 * counts.total,
        "6ND_nonemb": 6.0 * counts.non_embedding,
        "kaplan": 6.0 * counts.non_embedding + 6.0 * shape.n_layer * shape.seq_len * shape.d_attn,
        "chinchilla": 3.0 * chinchilla_fwd,
    }


def training_flops(shape: Shape, tokens: float) -> dict[str, float]:
    """Training FLOPs of ``tokens`` tokens, one entry per convention."""
    return {k: v * tokens for k, v in flops_per_token(shape).items()}


def tokens_for_flops(shape: Shape, flops: float, convention: str) -> float:
    """How many tokens a budget of ``flops`` (measured in ``convention``) buys for this shape."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    return flops / flops_per_token(shape)[convention]
