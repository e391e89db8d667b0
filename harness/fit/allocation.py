"""Compute-optimal allocation from L(N, D) = E + A/N^alpha + B/D^beta.

With C = k N D for a constant k FLOPs per parameter-token (k = 6 in the 6ND count), minimising L
on the curve ND = C/k gives, for k = 6, (Hoffmann et al. 2022, eq. 4 and appendix D.2)

    N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,  G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta / (alpha + beta),  b = alpha / (alpha + beta).

Under the Kaplan or Chinchilla counts, k depends on the model's shape (on N), so the optimum at C
is found numerically along the curve D = tokens_for(C, N) of the points' own convention
(``optimum_on_budget``); the published anchors (``LawParams.n_opt``) stay in 6ND.

The inference-aware optimum (Sardana & Frankle 2023) instead minimises the lifetime cost
6 N D + 2 N D_inf over models that reach a given loss, for D_inf expected inference tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.optimize import minimize_scalar


@dataclass(frozen=True)
class LawParams:
    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        d = np.asarray(d, dtype=float)
        with np.errstate(over="ignore"):
            # In a degenerate fit (an exponent in the hundreds) n**alpha or d**beta overflows and its
            # term rightly vanishes; the fit's own warnings and intervals are where that shows.
            return self.E + self.A / n ** self.alpha + self.B / d ** self.beta

    @property
    def a(self) -> float:
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        # In logs: a degenerate fit (an exponent near 0, a coefficient of e^300) overflows the
        # power; G is then infinite, and the allocation with it, rather than a crash.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            log_g = (np.log(self.alpha * self.A) - np.log(self.beta * self.B)) / (self.alpha + self.beta)
            return float(np.exp(log_g))

    def n_opt(self, c: np.ndarray | float) -> np.ndarray:
        return self.G * (np.asarray(c, dtype=float) / 6.0) ** self.a

    def d_opt(self, c: np.ndarray | float) -> np.ndarray:
        return (np.asarray(c, dtype=float) / 6.0) ** self.b / self.G

    def tokens_per_param(self, c: np.ndarray | float) -> np.ndarray:
        return self.d_opt(c) / self.n_opt(c)

    def optimal_loss(self, c: np.ndarray | float) -> np.ndarray:
        return self.loss(self.n_opt(c), self.d_opt(c))

    def as_dict(self) -> dict[str, float]:
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta}


@dataclass(frozen=True)
class InferenceOptimum:
    target_loss: float
    inference_tokens: float
    n: float
    d: float
    train_flops: float
    total_flops: float  # training FLOPs (the points' convention) + 2N D_inf
    chinchilla_n: float  # the training-only optimum reaching the same loss
    chinchilla_d: float
    chinchilla_total_flops: float


def optimum_on_budget(p: LawParams, c: np.ndarray | float, flops_per_token: float | None,
                      tokens_for: Callable[[Any, Any], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(N_opt, D_opt) minimising p.loss on the budget C, with C = k N D for a constant k (closed
    form) or, when k varies with N (flops_per_token None), along D = tokens_for(C, N)."""
    c = np.asarray(c, dtype=float)
    if flops_per_token is not None:
        x = c / flops_per_token
        return p.G * x ** p.a, x ** p.b / p.G
    n_out, d_out = np.empty(c.shape), np.empty(c.shape)
    for i, ci in np.ndenumerate(c):
        ci = float(ci)
        n0 = float(p.G * (ci / 6.0) ** p.a)

        def loss_at(logn: float, ci: float = ci) -> float:
            n = math.exp(logn)
            return float(p.loss(n, tokens_for(ci, n)))
        # The 6ND optimum is within a factor of a few of the answer (k stays within a few x 6);
        # +-8 e-folds brackets it with room to spare.
        res = minimize_scalar(loss_at, bounds=(math.log(n0) - 8, math.log(n0) + 8), method="bounded",
                              options={"xatol": 1e-9})
        n_out[i] = math.exp(res.x)
        d_out[i] = float(tokens_for(ci, n_out[i]))
    return n_out, d_out


def d_for_loss(p: LawParams, n: float, target: float) -> float:
    """Tokens a model of n parameters needs to reach ``target`` (inf if it never can)."""
    gap = target - p.E - p.A / n ** p.alpha
    return math.inf if gap <= 0 else (p.B / gap) ** (1.0 / p.beta)


def inference_optimum(p: LawParams, target_loss: float, inference_tokens: float,
                      compute_for: Callable[[Any, Any], Any] | None = None) -> InferenceOptimum:
    """Sardana & Frankle (2023): the (N, D) reaching ``target_loss`` at least lifetime FLOPs.

    Training FLOPs are ``compute_for(N, D)`` in the points' convention (default 6ND); inference
    costs 2N per token.
    """
    train = compute_for if compute_for is not None else (lambda n, d: 6 * n * d)
    if target_loss <= p.E:
        raise ValueError(f"target loss {target_loss} is at or below the irreducible loss E = {p.E:.4g}")
    # Smallest N that can reach the target at all (infinite data): A/N^alpha < target - E.
    n_min = (p.A / (target_loss - p.E)) ** (1.0 / p.alpha)

    def cost(logn: float, d_inf: float) -> float:
        n = math.exp(logn)
        d = d_for_loss(p, n, target_loss)
        return math.log(float(train(n, d)) + 2 * n * d_inf) if math.isfinite(d) else 1e300

    def solve(d_inf: float) -> tuple[float, float]:
        lo = math.log(n_min) + 1e-9
        res = minimize_scalar(cost, bounds=(lo, lo + 20 * math.log(10)), args=(d_inf,), method="bounded",
                              options={"xatol": 1e-10})
        n = math.exp(res.x)
        return n, d_for_loss(p, n, target_loss)

    n, d = solve(inference_tokens)
    n0, d0 = solve(0.0)
    return InferenceOptimum(target_loss=target_loss, inference_tokens=inference_tokens, n=n, d=d,
                            train_flops=float(train(n, d)), total_flops=float(train(n, d)) + 2 * n * inference_tokens,
                            chinchilla_n=n0, chinchilla_d=d0,
                            chinchilla_total_flops=float(train(n0, d0)) + 2 * n0 * inference_tokens)
