"""What approaches 1 and 2 (Hoffmann et al. 2022) share: each measures compute-optimal model sizes
(the lower envelope's runs, the IsoFLOP vertices) and fits power lines through them, N_opt ∝ C^a and
D_opt ∝ C^b, set beside the a and b that Hoffmann's Table 2 gives for that approach."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from harness.fit.anchors import EPOCH, HOFFMANN_ALLOCATION, KAPLAN
from harness.fit.law import Law


class OptimaLinesLaw(Law):
    """A law whose allocation is the lines ``n_line_`` and ``d_line_`` (harness.fit.powerlaw.LogLine)."""

    can_allocate = True
    vary = ("n",)
    headline_keys = ("a", "b")
    fitted_by_default = True
    approach: ClassVar[int] = 0  # Hoffmann's number of the approach, for its row of Table 2

    def line_params(self) -> dict[str, float]:
        """The fitted lines as parameters: exponents a, b and their prefactors."""
        return {"a": self.n_line_.slope, "b": self.d_line_.slope, "k_n": self.n_line_.k, "k_d": self.d_line_.k}

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        return {"Hoffmann": (f"Chinchilla (Hoffmann, Table 2, approach {cls.approach})",
                             {k: v.value for k, v in HOFFMANN_ALLOCATION[f"approach{cls.approach}"].items()}),
                "Epoch": ("Epoch replication", {"a": EPOCH.a, "b": EPOCH.b}),
                "Kaplan": ("Kaplan et al. 2020", {"a": KAPLAN["a"], "b": KAPLAN["b"]})}

    def n_opt(self, c: np.ndarray | float) -> np.ndarray:
        return self.n_line_(c)
