"""Scaling-law fitter: measured points in, laws, allocations and extrapolations out.

Never imports training code (torch models, data pipelines), so it starts fast and fits points
from anywhere. Entry points: ``fit_points``/``fit_sweep`` (Python) and ``harness-fit`` (CLI).
"""

from harness.errors import FitInputError, InsufficientData
from harness.fit.api import FitReport, PredictSpec, fit_points, fit_sweep, write_outputs
from harness.fit.law import Law, get_law, law_names, registry
from harness.fit.laws.chinchilla import ChinchillaFit
from harness.fit.loaders import load_csv, load_openlm, load_sweep
from harness.fit.points import Points

__all__ = ["FitReport", "PredictSpec", "fit_points", "fit_sweep", "write_outputs", "ChinchillaFit", "Law",
           "get_law", "law_names", "registry", "FitInputError", "InsufficientData", "Points", "load_csv",
           "load_openlm", "load_sweep"]
