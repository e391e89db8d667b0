"""Published numbers, shown beside the user's fit so a reader can tell ordinary from odd.

Every anchor says where it is printed and what it is (a fitted point estimate, a bootstrap
interval, which of Hoffmann's three approaches), because those differ: Hoffmann's allocation
exponent a is 0.50, 0.49 and 0.46 by approaches 1, 2 and 3 (Table 2), and 0.4516 is only what
their rounded approach-3 alpha and beta imply, not a number they report. Compare a fit with the
anchor of the same kind.

How each was checked (tests/fit/test_anchors.py pins every value):
- Hoffmann et al. 2022 Table 2 and eq. 10, Kaplan et al. 2020 eqs. 1.1-1.3, 1.5, Tables 2 and 6:
  the PDFs were not readable here; the values were checked against several independent
  transcriptions of the papers (lecture notes and paper summaries that quote the tables with
  their intervals), which agree digit for digit.
- Hoffmann's unrounded approach-3 parameters (their TeX source): as Besiroglu et al. 2024 read
  them, from the ``true_params`` of their notebook (epoch-research/analyzing-chinchilla,
  data_analysis.ipynb).
- Besiroglu et al. 2024 (Epoch AI): the same notebook's printed output. Their point estimate is
  a maximum-likelihood fit with a Huber-distributed log-loss residual (BFGS from Hoffmann's TeX
  values, cell 24-25), not the Huber-loss grid fit of Hoffmann's procedure (cell 18, E 1.8172,
  A 477.84, B 2143.86, alpha 0.34731, beta 0.36718, which ``tests/fit/laws/test_chinchilla.py``
  reproduces) and not a bootstrap median. The 95% intervals are percentiles of their 4,000
  bootstrap fits (cell 26). Their bootstrap medians are printed nowhere found here; re-running
  their bootstrap (same seed, resamples and start; tests/fit/test_anchors.py, slow) gives back
  their printed first fits and 95% percentiles to every digit, and medians A 469.8, B 2203,
  E 1.815, alpha 0.3463, beta 0.3686 (``EPOCH_BOOTSTRAP_MEDIAN``: recomputed, not printed).
- Muennighoff et al. 2023: their TeX source, section 3: R_N* = 5.309743, R_D* = 15.387756.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.fit.allocation import LawParams

HOFFMANN_SRC = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models"
EPOCH_SRC = ("Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt "
             "(epoch-research/analyzing-chinchilla, data_analysis.ipynb)")
KAPLAN_SRC = "Kaplan et al. 2020, Scaling Laws for Neural Language Models"
MUENNIGHOFF_SRC = "Muennighoff et al. 2023, Scaling Data-Constrained Language Models"
PORIAN_SRC = ("Porian et al. 2024, Resolving Discrepancies in Compute-Optimal Scaling of Language Models: "
              "their released summaries (github.com/formll/resolving-scaling-law-discrepancies, "
              "data/summary_df.pickle.xz and summary_df_owt2.pickle.xz), read as their paper_tables.py reads them")


@dataclass(frozen=True)
class Anchor:
    """One published number: its value, where it is printed, and what kind of estimate it is."""

    value: float
    source: str
    what: str
    interval: tuple[float, float] | None = None  # as printed, with ``what`` saying which interval


# --- Hoffmann et al. 2022 ------------------------------------------------------------------------

# Approach 3's fitted loss, eq. 10 (section 3.3; appendix D.2), rounded as printed in the body.
HOFFMANN = LawParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# The same fit unrounded, from the paper's TeX source as Besiroglu et al. read it (their notebook's
# true_params: log A 6.0073404, log B 6.0179186, log E 0.5267228). Its a is 0.4565, the 0.46 of Table 2.
HOFFMANN_UNROUNDED = LawParams(E=1.6934, A=406.4, B=410.7, alpha=0.33917084, beta=0.2849083)

# Table 2: N_opt ∝ C^a and D_opt ∝ C^b per approach; intervals are the 10th-90th percentiles of
# their bootstrap. Approach 3's interval is the implausibly narrow one Besiroglu et al. question.
_T2 = f"{HOFFMANN_SRC}, Table 2"
HOFFMANN_ALLOCATION: dict[str, dict[str, Anchor]] = {
    "approach1": {"a": Anchor(0.50, _T2, "approach 1 (minimum over training curves)", (0.488, 0.502)),
                  "b": Anchor(0.50, _T2, "approach 1 (minimum over training curves)", (0.501, 0.512))},
    "approach2": {"a": Anchor(0.49, _T2, "approach 2 (IsoFLOP profiles)", (0.462, 0.534)),
                  "b": Anchor(0.51, _T2, "approach 2 (IsoFLOP profiles)", (0.483, 0.529))},
    "approach3": {"a": Anchor(0.46, _T2, "approach 3 (parametric fit of the loss)", (0.454, 0.455)),
                  "b": Anchor(0.54, _T2, "approach 3 (parametric fit of the loss)", (0.542, 0.543))},
}


def hoffmann_a(approach: str) -> float:
    """Hoffmann's published a for one approach ("approach1", "approach2", "approach3")."""
    try:
        return HOFFMANN_ALLOCATION[approach]["a"].value
    except KeyError:
        raise ValueError(f"Hoffmann et al. 2022 report a for {', '.join(HOFFMANN_ALLOCATION)}, "
                         f"not {approach!r}") from None


# Chinchilla itself: 70B parameters on 1.4T tokens (section 4.1), the "20 tokens per parameter".
CHINCHILLA_TOKENS_PER_PARAM = 20.0

# --- Besiroglu et al. 2024 (Epoch AI) --------------------------------------------------------------

# Point estimates (notebook cell 25: A 482.00572, B 2085.43420, E 1.81686, alpha 0.34781, beta
# 0.36585). E: the paper's table is transcribed as 1.8172 (the grid fit's E), the likelihood fit
# prints 1.81686; 1.817 is what both say to the digits either supports.
EPOCH = LawParams(E=1.817, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
_EP = "point estimate (maximum likelihood, Huber-distributed residuals); interval: bootstrap 95% percentiles"
EPOCH_ANCHORS: dict[str, Anchor] = {
    "A": Anchor(482.01, EPOCH_SRC, _EP, (285.214, 743.626)),
    "B": Anchor(2085.43, EPOCH_SRC, _EP, (1042.357, 5810.344)),
    "E": Anchor(1.817, EPOCH_SRC, _EP, (1.769, 1.871)),
    "alpha": Anchor(0.3478, EPOCH_SRC, _EP, (0.317, 0.373)),
    "beta": Anchor(0.3658, EPOCH_SRC, _EP, (0.331, 0.415)),
    # a = beta / (alpha + beta) of the point estimate; the notebook prints 0.513 (SE 0.020).
    "a": Anchor(0.513, EPOCH_SRC, "beta/(alpha+beta) of the point estimate"),
}
# Medians of their 4,000 bootstrap fits, recomputed by re-running cell 21 (see the docstring).
EPOCH_BOOTSTRAP_MEDIAN = LawParams(E=1.8146, A=469.82, B=2203.05, alpha=0.34633, beta=0.36855)
# Their reproduction of Hoffmann's own procedure (Huber loss, L-BFGS from a grid; cell 18).
EPOCH_GRID_FIT = LawParams(E=1.817235504463726, A=477.84171252965143, B=2143.8637880335505,
                           alpha=0.34731265761033453, beta=0.3671826173946711)

# --- Kaplan et al. 2020 -----------------------------------------------------------------------------

# Single-variable laws (eqs. 1.1-1.3; N non-embedding parameters, C_min in PF-days) and the
# compute-efficient allocation (section 1.2 and Table 6): N_opt = 1.3e9 C_min^0.73, D_opt ∝ C_min^0.27.
KAPLAN = {"alpha_N": 0.076, "alpha_D": 0.095, "alpha_C": 0.050, "a": 0.73, "b": 0.27}
KAPLAN_ANCHORS: dict[str, Anchor] = {
    "alpha_N": Anchor(0.076, KAPLAN_SRC, "L(N) = (N_c/N)^alpha_N, eq. 1.1 (N non-embedding)"),
    "N_c": Anchor(8.8e13, KAPLAN_SRC, "L(N) = (N_c/N)^alpha_N, eq. 1.1 (non-embedding parameters)"),
    "alpha_D": Anchor(0.095, KAPLAN_SRC, "L(D) = (D_c/D)^alpha_D, eq. 1.2"),
    "D_c": Anchor(5.4e13, KAPLAN_SRC, "L(D) = (D_c/D)^alpha_D, eq. 1.2 (tokens)"),
    "alpha_C": Anchor(0.050, KAPLAN_SRC, "L(C_min) = (C_c/C_min)^alpha_C^min, eq. 1.3"),
    "C_c": Anchor(3.1e8, KAPLAN_SRC, "L(C_min), eq. 1.3 (PF-days)"),
    "a": Anchor(0.73, KAPLAN_SRC, "N_opt = 1.3e9 C_min^0.73, section 1.2 and Table 6 (C_min in PF-days)"),
    "N_e": Anchor(1.3e9, KAPLAN_SRC, "N_opt = N_e C_min^0.73, Table 6 (parameters per PF-day^0.73)"),
    "b": Anchor(0.27, KAPLAN_SRC, "D_opt ∝ C_min^0.27 (B ∝ C^0.24 times S ∝ C^0.03), Table 6"),
}
# The joint L(N, D) fit, eq. 1.5 with Table 2's values (not the single-variable exponents above).
KAPLAN_JOINT = {"alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}

# --- Muennighoff et al. 2023 ------------------------------------------------------------------------

MUENNIGHOFF = {"R_D_star": 15.4, "R_N_star": 5.3}
MUENNIGHOFF_ANCHORS: dict[str, Anchor] = {
    "R_D_star": Anchor(15.387756, MUENNIGHOFF_SRC, "fitted decay constant of repeated tokens, section 3"),
    "R_N_star": Anchor(5.309743, MUENNIGHOFF_SRC, "fitted decay constant of excess parameters, section 3"),
}


# Porian et al.'s a (N_opt ∝ C^a) after each switch from Kaplan's setup towards Chinchilla's, in their
# order: Kaplan's setup reproduced; the last layer's FLOPs counted; warmup shortened to about N tokens;
# a cosine decay matched to each budget; AdamW tuned per size (with a constant rate, no decay). Value:
# the median of their 1,000 bootstrap fits of the weighted power law through Akima-interpolated
# IsoFLOP minima; interval: those fits' 2.5-97.5% percentiles, printed to two decimals as they print it.
PORIAN_ORDER = ("kaplan", "last_layer_flops", "warmup", "cosine", "tuning")
_PW = "a, bootstrap median (weighted power law through Akima minima); interval: 95% bootstrap percentiles"
PORIAN_STEPS: dict[str, dict[str, Anchor]] = {
    step: {"RefinedWeb": Anchor(rw, PORIAN_SRC, _PW, rw_ci), "OpenWebText2": Anchor(owt, PORIAN_SRC, _PW, owt_ci)}
    for step, (rw, rw_ci, owt, owt_ci) in zip(PORIAN_ORDER, (
        (0.835, (0.82, 0.85), 0.864, (0.82, 0.90)),
        (0.706, (0.69, 0.72), 0.699, (0.66, 0.72)),
        (0.602, (0.59, 0.62), 0.603, (0.57, 0.63)),
        (0.571, (0.56, 0.59), 0.574, (0.54, 0.61)),
        (0.497, (0.49, 0.50), 0.518, (0.49, 0.54)),
    ))
}


def anchors_json() -> dict[str, dict[str, float]]:
    """The anchors as plain numbers, for fit.json (sources and kinds are in ``anchors_sources``)."""
    def law(p: LawParams) -> dict[str, float]:
        return {**p.as_dict(), "a": p.a, "b": p.b}
    hoffmann = {**HOFFMANN.as_dict(),
                # Table 2's approach-3 a and b, not the 0.4516 the rounded alpha and beta imply.
                "a": HOFFMANN_ALLOCATION["approach3"]["a"].value, "b": HOFFMANN_ALLOCATION["approach3"]["b"].value,
                "tokens_per_param": CHINCHILLA_TOKENS_PER_PARAM}
    for approach, ab in HOFFMANN_ALLOCATION.items():
        hoffmann[f"a_{approach}"] = ab["a"].value
        hoffmann[f"b_{approach}"] = ab["b"].value
    return {
        "kaplan_2020": dict(KAPLAN),
        "hoffmann_2022": hoffmann,
        "epoch_2024": law(EPOCH),
        "muennighoff_2023": dict(MUENNIGHOFF),
    }


def anchors_sources() -> dict[str, str]:
    """Where each block of ``anchors_json`` comes from and what kind of estimate it is."""
    return {
        "kaplan_2020": f"{KAPLAN_SRC}: eqs. 1.1-1.3 single-variable exponents; a, b from Table 6",
        "hoffmann_2022": (f"{HOFFMANN_SRC}: E, A, B, alpha, beta approach 3's fit (eq. 10, rounded); "
                          "a, b and a_/b_approach1-3 from Table 2"),
        "epoch_2024": f"{EPOCH_SRC}: maximum-likelihood point estimates (not bootstrap medians)",
        "muennighoff_2023": f"{MUENNIGHOFF_SRC}: section 3, rounded",
    }
