"""Every OmegaConf resolver the configs use, registered in one place.

``hp.*`` compute the per-size rules of harness/shapes/rules.py from a model's shape (``hp.lr``,
``hp.batch``, ``hp.warmup``, ...); ``design.*`` expand an IsoFLOP design of harness/shapes/design.py
into (budget, shape) points and read each job's budget and shape back. Every run needs them (a
preset's YAML names them), so they sit below the run: ``register_resolvers()`` is called by
harness-train, harness-plan and anything else that composes a config, before Hydra does.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from harness.shapes.design import (
    parse_budgets,
    parse_point,
    points_resolver,
    shape_resolver,
)
from harness.shapes.rules import (
    batch_rule,
    lr_rule,
    lr_times_rule,
    non_embedding_params,
    warmup_rule,
    width_for,
)


def register_resolvers() -> None:
    """Register hp.* and design.* (idempotent: a second call replaces them with the same)."""
    def reg(name, fn):
        OmegaConf.register_new_resolver(name, fn, replace=True)

    reg("hp.lr", lambda model, lr_ref, lr_exp: lr_rule(non_embedding_params(model), float(lr_ref), float(lr_exp)))
    reg("hp.lr_x", lambda mult, lr_ref, lr_exp, *, _root_: lr_times_rule(
        float(mult), non_embedding_params(_root_.model), float(lr_ref), float(lr_exp)))
    reg("hp.batch", lambda model, seq_len, tokens_ref, batch_exp, min_seqs, max_seqs: batch_rule(
        non_embedding_params(model), int(seq_len), float(tokens_ref), float(batch_exp), int(min_seqs),
        int(max_seqs)))
    reg("hp.warmup", lambda model, mult: warmup_rule(non_embedding_params(model), float(mult)))
    reg("hp.n", lambda model: non_embedding_params(model))
    reg("hp.width", lambda n_layer, target, head=16: width_for(int(n_layer), float(target), int(head)))
    reg("hp.heads", lambda n_layer, target, head=16: width_for(int(n_layer), float(target), int(head)) // int(head))
    reg("design.points", points_resolver)
    reg("design.flops", lambda label: parse_point(label)[0])
    reg("design.branches", lambda label: parse_budgets(label)[0][:-1])
    reg("design.shape", shape_resolver)
