"""The model family: transformers' GPT-2 and Llama classes, built in code from a Shape.

No hub access ever: configs are constructed here and weights are initialised from torch's global
RNG (the caller seeds it), so a run is reproducible from its config alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.flops import Shape


def _hf_config(shape: Shape, init_std: float):
    # No special tokens: the defaults (GPT-2's 50256) point outside a small vocabulary.
    common = dict(vocab_size=shape.vocab_size, tie_word_embeddings=shape.tied, initializer_range=init_std,
                  use_cache=False, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    if shape.arch == "gpt2":
        from transformers import GPT2Config

        return GPT2Config(
            n_positions=shape.n_ctx, n_embd=shape.d_model, n_layer=shape.n_layer, n_head=shape.n_head,
            n_inner=shape.d_ff,
            # GPT-2's tanh approximation, but through torch's fused kernel: transformers' "gelu_new"
            # spells it out in five elementwise ops, each a separate pass over the activations.
            activation_function="gelu_pytorch_tanh",
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common)
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=shape.d_model, intermediate_size=shape.d_ff, num_hidden_layers=shape.n_layer,
        num_attention_heads=shape.n_head, num_key_value_heads=shape.n_head,
        max_position_embeddings=shape.n_ctx, attention_bias=False, mlp_bias=False, attention_dropout=0.0,
        hidden_act="silu", **common)


def build_model(shape: Shape, init_std: float = 0.02) -> torch.nn.Module:
    """A freshly initialised ``GPT2LMHeadModel`` or ``LlamaForCausalLM`` of exactly this shape."""
    from transformers import GPT2LMHeadModel, LlamaForCausalLM

    cfg = _hf_config(shape, init_std)
    cfg._attn_implementation = "sdpa"
    cls = GPT2LMHeadModel if shape.arch == "gpt2" else LlamaForCausalLM
    model = cls(cfg)
    model.train()
    return model


def _hidden_states(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The final hidden states, running transformers' own modules without its top-level forward.

    The top-level ``forward`` is built for generation and padding: per call it builds position
    ids, scans them for packed sequences, asks the mask factory whether a mask is needed, threads
    cache and output-capture machinery through every layer and wraps results in output
    dataclasses. Training on full, unpadded sequences needs none of it. Calling the blocks with
    ``attention_mask=None`` makes transformers' SDPA path use ``is_causal=True``, the same kernel
    the top-level forward ends up in; tests/test_model.py checks the loss against the stock
    forward with ``labels=``.
    """
    s = inputs.shape[1]
    if hasattr(model, "transformer"):  # GPT2LMHeadModel
        t = model.transformer
        # Slicing the position table equals looking up arange(s), without building the index.
        x = t.drop(t.wte(inputs) + t.wpe.weight[:s])
        for block in t.h:
            x = block(x)
            x = x[0] if isinstance(x, tuple) else x  # transformers 4.x blocks return tuples
        return t.ln_f(x)
    m = model.model  # LlamaForCausalLM
    x = m.embed_tokens(inputs)
    position_ids = torch.arange(s, device=inputs.device).unsqueeze(0)
    rotary = m.rotary_emb(x, position_ids=position_ids)  # (cos, sin), shared by every layer
    for layer in m.layers:
        x = layer(x, attention_mask=None, position_ids=position_ids, position_embeddings=rotary)
        x = x[0] if isinstance(x, tuple) else x
    return m.norm(x)


def forward_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (fp32) of ``tokens`` [B, S+1]: inputs [:, :-1], targets [:, 1:].

    ``model`` is what ``build_model`` returned, or that model wrapped by ``torch.compile``. A
    compiled model runs its stock forward: the compiled graph has none of the per-call Python
    overhead that the eager path below skips.
    """
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    if hasattr(model, "_orig_mod"):
        logits = model(input_ids=inputs, use_cache=False).logits
    else:
        logits = model.lm_head(_hidden_states(model, inputs))
    # fp32 for the softmax even under bf16 autocast: the loss is what the whole study measures.
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))



def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decoupled weight decay on the weight matrices of the blocks (and an untied head).

    Biases and norm gains stay undecayed (shrinking them only fights the normalisation), and so do
    the token and position tables: an embedding row is only updated when its token appears, so
    decay would pull rare tokens to zero. A tied head is the token table, so it is not decayed either.
    """
    inner = getattr(model, "_orig_mod", model)
    embeddings = {id(m.weight) for m in inner.modules() if isinstance(m, torch.nn.Embedding)}
    decay, no_decay, seen = [], [], set()
    for p in inner.parameters():  # parameters() yields a tied tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 and id(p) not in embeddings else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
