"""The transformers models match the counts in harness.flops, FLOP for FLOP where torch can tell."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from harness.config import ModelConfig
from harness.flops import Shape, chinchilla_forward_terms, flops_per_token, param_counts
from harness.model import build_model, forward_loss, param_groups

SHAPES = [
    Shape("gpt2", n_layer=2, d_model=64, n_head=2, d_ff=256, n_ctx=64, seq_len=64, vocab_size=256, tied=True),
    Shape("gpt2", n_layer=3, d_model=48, n_head=4, d_ff=100, n_ctx=128, seq_len=32, vocab_size=500, tied=False),
    Shape("llama", n_layer=2, d_model=64, n_head=4, d_ff=176, n_ctx=64, seq_len=64, vocab_size=256, tied=True),
    Shape("llama", n_layer=1, d_model=96, n_head=6, d_ff=256, n_ctx=32, seq_len=32, vocab_size=300, tied=False),
]


def _build(shape: Shape, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(shape)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.arch}-d{s.d_model}-{'tied' if s.tied else 'untied'}")
def test_param_counts_match_the_built_model(shape):
    model = _build(shape)
    counts = param_counts(shape)
    assert sum(p.numel() for p in model.parameters()) == counts.total
    emb = model.get_input_embeddings().weight
    assert (model.get_output_embeddings().weight is emb) == shape.tied
    pos = [m.weight.numel() for n, m in model.named_modules() if n.endswith("wpe")]
    assert emb.numel() + sum(pos) == counts.embedding


def test_a_model_configs_shape_takes_defaults_from_the_config():
    s = ModelConfig(arch="llama", n_layer=2, d_model=64, n_head=4).shape(vocab_size=256, seq_len=64)
    assert (s.d_ff, s.n_ctx, s.tied) == (176, 64, True)
    s = ModelConfig(arch="gpt2", d_model=64, n_ctx=256, tie_embeddings=False).shape(vocab_size=256, seq_len=64)
    assert (s.d_ff, s.n_ctx, s.seq_len, s.tied) == (256, 256, 64, False)


def test_build_is_deterministic_under_the_callers_seed():
    a, b, c = _build(SHAPES[0], 1), _build(SHAPES[0], 1), _build(SHAPES[0], 2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.transformer.h[0].attn.c_attn.weight, c.transformer.h[0].attn.c_attn.weight)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2]], ids=["gpt2", "llama"])
def test_forward_loss_is_the_mean_next_token_cross_entropy(shape):
    model = _build(shape)
    tokens = torch.randint(0, shape.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = forward_loss(model, tokens)
        # The reference: transformers' own shifted loss with labels.
        ref = model(input_ids=tokens, labels=tokens).loss
    assert loss.dtype == torch.float32 and loss.ndim == 0
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    # An untrained model with std-0.02 weights predicts nearly uniformly.
    assert abs(float(loss) - torch.log(torch.tensor(float(shape.vocab_size)))) < 0.05


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.arch}-{'tied' if s.tied else 'untied'}")
def test_param_groups_decay_exactly_the_matrices(shape):
    model = _build(shape)
    decay, no_decay = param_groups(model, 0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    names = {id(p): n for n, p in model.named_parameters()}
    got = sorted(names[id(p)] for p in decay["params"])
    if shape.arch == "gpt2":
        per_layer = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
        prefix = "transformer.h"
    else:
        per_layer = ["mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                     "self_attn.k_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.weight",
                     "self_attn.v_proj.weight"]
        prefix = "model.layers"
    want = [f"{prefix}.{i}.{w}" for i in range(shape.n_layer) for w in per_layer]
    if not shape.tied:
        want.append("lm_head.weight")
    assert got == sorted(want)
    # Every parameter sits in exactly one group, the tied table once.
    all_ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert len(all_ids) == len(set(all_ids)) == len(list(model.parameters()))


@pytest.mark.parametrize("arch,d_ff", [("gpt2", 256), ("llama", 176)])
def test_chinchilla_count_against_flop_counter(arch, d_ff):
    """FlopCounterMode on a forward + backward step versus the Appendix F count.

    How the two differ, and why:
    - FlopCounterMode counts only matmul-like aten ops (mm, addmm, bmm, registered attention
      kernels), 2 FLOPs per multiply-add. The softmax (Chinchilla's 3 H S^2), LayerNorm/RMSNorm,
      GELU/SwiGLU gating, RoPE and the loss are elementwise and count zero.
    - The embedding lookup is an index, not a matmul: zero, where Chinchilla counts 2 S V d.
    - On CPU, SDPA dispatches to ``_scaled_dot_product_flash_attention_for_cpu``, which has no
      FLOP formula registered in torch: attention scores and the value reduction count zero.
      Forcing the math backend makes them two bmm's over the full S x S matrix (the causal mask
      is applied elementwise afterwards), which is exactly what Chinchilla counts; a causal
      kernel's real work is about half of it.
    - Backward = 2x forward holds exactly for every matmul: a gradient for the input and one for
      the weight, including the first projection (its input gradient feeds the residual stream).
    What remains must agree to the FLOP.
    """
    shape = Shape(arch, n_layer=2, d_model=64, n_head=4, d_ff=d_ff, n_ctx=32, seq_len=32, vocab_size=256,
                  tied=False)
    batch = 3
    model = _build(shape)
    tokens = torch.randint(0, shape.vocab_size, (batch, shape.seq_len + 1), generator=torch.Generator().manual_seed(0))
    t = chinchilla_forward_terms(shape)
    full = batch * shape.seq_len * flops_per_token(shape)["chinchilla"]
    assert full == pytest.approx(3 * batch * sum(t.values()))

    def measure(backend=None) -> int:
        counter = FlopCounterMode(display=False)
        with (sdpa_kernel(backend) if backend else torch.enable_grad()), counter:
            forward_loss(model, tokens).backward()
        return counter.get_total_flops()

    projections = 3 * batch * (t["attention_qkv"] + t["attention_project"] + t["dense"] + t["logits"])
    attention = 3 * batch * (t["attention_logits"] + t["attention_reduce"])
    not_counted = 3 * batch * (t["embeddings"] + t["attention_softmax"])
    assert measure() == projections
    assert measure(SDPBackend.MATH) == projections + attention == full - not_counted
    # At this tiny shape (V = 256 against d = 64) the embedding lookup alone is 9% of the full count.
    assert 0.85 < measure(SDPBackend.MATH) / full < 0.9
