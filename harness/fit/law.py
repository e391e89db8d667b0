"""The one interface every scaling law implements, and the registry that finds the laws.

WHERE A NEW LAW GOES: one file ``harness/fit/laws/<name>.py`` defining one subclass of ``Law``
whose ``name`` is ``<name>``, plus its test ``tests/fit/laws/test_<name>.py`` and its example points
in ``tests/fit/law_examples.py`` (the contract test, tests/fit/test_law_contract.py, fits every
registered law on them and fails for a law without one). Nothing else is edited:
the CLI's ``--law`` choices, the default selection, the sweep's check of ``sweep.fit_laws``,
``fit_points`` and the report all read the registry below, which lists the modules of
``harness.fit.laws`` (module name = law name, checked on import).

The interface (scikit-learn style)::

    class MyLaw(Law):
        name = "mylaw"                  # registry / CLI key, = module name
        title = "My law (Someone 2024)" # human heading in report.md
        can_predict = True              # implements predict(n, d) (and maybe predict_interval)
        can_allocate = True             # implements n_opt(c), d_opt(c), optimal_loss(c)
        pools_datasets = False          # True only for laws fitting several data sets jointly
        honours_weights = False         # True if _fit reads points.weight (else warned when set)
        can_pin = False                 # True if a ``pin`` setting holds named parameters fixed
        fitted_by_default = False       # True: fitted when no law is named, whatever the points
        min_points = 5                  # fewer: InsufficientData (skipped, or one-line error)
        n_params = 4                    # free parameters: n_params + 1 points at least, else refused
        bounds = {"alpha": (0, 5)}      # a parameter (or its interval) ending on a bound is warned about
        vary = ("n", "d")               # inputs that must take 2+ distinct values (else a warning)
        order = 35                      # place in the default list and the report
        headline_keys = ("alpha", "E")  # parameters on the stdout line (default: all)
        param_labels = {"alpha": "α"}   # readable names in tables and the headline

        @classmethod
        def default_for(cls, points):   # instead of the flag: fitted when no law is named and this says True
            return len(points) > 10

        def __init__(self, n_bootstrap=0, ci_level=0.95, seed=0, my_setting=1.0):
            super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
            self.my_setting = my_setting   # settings only, stored as given: no work, no data

        def _fit(self, points):       # called by Law.fit after the shared input checks
            ...                       # set self.params_, self.ci_, self.objective_, self.converged_,
                                      # self.details_; append to self.warnings_

    ``get_params()`` returns the constructor's settings by name, as given (so every setting is
    stored under its parameter's name, unchanged). Law.fit(points) -> self. It refuses points with
    several data sets unless ``pools_datasets`` (``points.require_one_dataset``), checks
    ``min_points``/``n_params``, calls ``_fit``, then adds warnings for under-determined fits (one
    distinct N or D, a parameter at its bound, non-convergence). Learned attributes, alike on every
    law, exist only once fitted:
        params_ (dict[str, float]), ci_ (dict[str, [lo, hi]]), objective_ (float | None),
        converged_ (bool), warnings_ (list[str]), n_points_ (int), details_ (dict),
        flops_convention_ (the FLOP convention of every C the law reads or reports).
    Units: a law must give the same fit for points whose N and D are multiplied by a constant
    (normalise inside ``_fit``: divide by ``scale(x)``, fit, convert the parameters back).
    FLOPs: never assume C = 6ND; use ``self.tokens_for(c, n)`` and ``self.compute_for(n, d)``,
    which follow the points' own convention (``Points.tokens_for`` / ``Points.compute_for``).

    result() -> LawResult; report_section(result, figs) -> markdown (a classmethod, so a saved
    result renders again; the default table shows ``published()`` beside the fit and appends
    ``extra_section(result)``); headline(result) -> one line for stdout; plots(report, out_dir,
    tag) -> {figure: png name} for the law's own figures (default none). Optional overrides:
    allocation_ci(budgets), allocation_exponents(), inference_optimum(c, tokens).
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from harness.errors import FitInputError, InsufficientData
from harness.fit.allocation import LawParams, optimum_on_budget
from harness.fit.points import Points
from harness.fit.results import LawResult
from harness.fit.section import law_section

LAWS_PACKAGE = "harness.fit.laws"


def scale(x: np.ndarray) -> float:
    """Geometric mean of positive values: the unit a law divides N or D by before fitting."""
    return float(math.exp(np.mean(np.log(np.asarray(x, dtype=float)))))


def warnings_tail(r: LawResult) -> str:
    """The headline's last lines: every under-determined, unconverged or weights-ignored warning, then
    how many other warnings the report holds."""
    shown = [w for w in r.warnings if w.startswith(("UNDER-DETERMINED", "NOT CONVERGED", "WEIGHTS IGNORED"))]
    tail = "".join(f"\n  ! {w}" for w in shown)
    if len(r.warnings) > len(shown):
        tail += f"\n  ({len(r.warnings) - len(shown)} more warning(s) in report.md / fit.json)"
    return tail


class Law:
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    can_predict: ClassVar[bool] = False
    can_allocate: ClassVar[bool] = False
    pools_datasets: ClassVar[bool] = False
    min_points: ClassVar[int] = 2
    n_params: ClassVar[int] = 0
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    vary: ClassVar[tuple[str, ...]] = ("n", "d")
    # Position in the default list and in the report (lower first).
    order: ClassVar[int] = 100
    # Bootstrap resamples actually run at most (None: as asked); more is said in a warning.
    bootstrap_cap: ClassVar[int | None] = None
    # Parameters shown on the stdout headline, in this order (default: every parameter).
    headline_keys: ClassVar[tuple[str, ...] | None] = None
    # Readable names for parameters in report tables (e.g. which fit an exponent comes from).
    param_labels: ClassVar[dict[str, str]] = {}
    # Whether _fit reads ``points.weight`` (a law that does not is warned about when weights are set).
    honours_weights: ClassVar[bool] = False
    # Whether the constructor takes ``pin`` ({parameter: value} held fixed); with a known floor such a
    # law with an E is fitted a second time with E pinned at it (harness.fit.api).
    can_pin: ClassVar[bool] = False

    # Whether the law fits whole loss curves (``Points.run_curves``) rather than final points: the
    # only laws fitted by default on curve files, whose points have no N (harness.fit.api).
    fits_curves: ClassVar[bool] = False

    # Whether ``default_for`` says yes whatever the points (a law that depends on them overrides it).
    fitted_by_default: ClassVar[bool] = False

    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0) -> None:
        self.n_bootstrap = n_bootstrap
        self.ci_level = ci_level
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """The settings this law was made with, by constructor parameter name (scikit-learn's
        ``get_params``): ``type(law)(**law.get_params())`` makes the same unfitted law."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names}

    # -- selection ---------------------------------------------------------------------------
    @classmethod
    def default_for(cls, points: Points) -> bool:
        """Whether ``fit_points`` fits this law when no law is named (what the points support)."""
        return cls.fitted_by_default

    # -- fitting -----------------------------------------------------------------------------
    # Set on an instance only by a pooling law that fits this one as a step (e.g. for its starts).
    allow_pooling = False

    def fit(self, points: Points) -> "Law":
        if not (self.pools_datasets or self.allow_pooling):
            points.require_one_dataset(self.name)
        need = max(self.min_points, self.n_params + 1 if self.n_params else 0)
        if len(points) < need:
            raise InsufficientData(f"{self.name} fits {self.n_params} parameters and needs at least {need} points, "
                                   f"got {len(points)}" if self.n_params else
                                   f"{self.name} needs at least {need} points, got {len(points)}")
        if self.n_bootstrap < 0:
            raise FitInputError(f"{self.name}: n_bootstrap must not be negative, got {self.n_bootstrap}")
        self.flops_convention_ = points.flops_convention
        self._tokens_for = points.tokens_for
        self._compute_for = points.compute_for
        # A constant C/(N·D) (6 under 6ND) keeps the closed-form allocation; one that varies with
        # the shape (Kaplan, Chinchilla counts) makes the allocation follow it numerically.
        fpt = np.asarray(points.flops_per_token(points.n), dtype=float)
        self.flops_per_token_ = float(fpt[0]) if np.allclose(fpt, fpt[0], rtol=1e-9, atol=0.0) else None
        self._init_learned(len(points))
        self._fit(points)
        self.warnings_ += self._diagnose(points)
        return self

    def resample_settings(self) -> dict[str, Any]:
        """Settings that refit this law on resamples of its points as its own bootstrap does (what
        it keeps from the whole fit); harness.fit.paired passes them. None by default."""
        return {}

    def _init_learned(self, n_points: int) -> None:
        self.warnings_: list[str] = []
        self.params_: dict[str, float] = {}
        self.ci_: dict[str, list[float]] = {}
        self.objective_: float | None = None
        self.converged_ = True
        self.details_: dict[str, Any] = {}
        self.n_points_ = n_points
        if self.bootstrap_cap is not None and self.n_bootstrap > self.bootstrap_cap:
            self.warnings_.append(f"bootstrap capped at {self.bootstrap_cap} resamples (asked for {self.n_bootstrap})")

    def _fit(self, points: Points) -> None:
        raise NotImplementedError

    @property
    def n_boot_run(self) -> int:
        """Resamples to run: ``n_bootstrap`` within the law's cap."""
        return self.n_bootstrap if self.bootstrap_cap is None else min(self.n_bootstrap, self.bootstrap_cap)

    def _diagnose(self, points: Points) -> list[str]:
        """Warnings for a fit the points do not determine, said where the user looks."""
        out = []
        if points.weighted() and not self.honours_weights:
            out.append(f"WEIGHTS IGNORED: {self.name} takes no point weights, so every point counts in full here, the "
                       "down-weighted ones included (approach2 and chinchilla honour weights)")
        for axis in self.vary:
            k = len(np.unique(np.round(np.log(getattr(points, axis)), 9)))
            if k < 2:
                out.append(f"UNDER-DETERMINED: only one distinct {axis.upper()} in the points, so the "
                           f"{axis.upper()} exponent is not measured")
        for k, (lo, hi) in self.bounds.items():
            v = self.params_.get(k)
            if v is not None and math.isfinite(v) and (v <= lo * (1 + 1e-6) + 1e-12 or v >= hi * (1 - 1e-6)):
                out.append(f"UNDER-DETERMINED: {k} = {v:.4g} sits on its bound [{lo:g}, {hi:g}]: the points do not pin it")
                continue
            ci = self.ci_.get(k)
            if ci and all(x is not None and math.isfinite(x) for x in ci) and (
                    ci[0] <= lo * (1 + 1e-6) + 1e-12 or ci[1] >= hi * (1 - 1e-6)):
                out.append(f"UNDER-DETERMINED: the {self.ci_level:.0%} interval of {k} [{ci[0]:.3g}, {ci[1]:.3g}] "
                           f"reaches its bound [{lo:g}, {hi:g}]: resamples of these points do not pin it")
        # A law whose resamples can fail (approach 2 needs two bracketed minima in each) reports how
        # many it used; an interval from a small minority of resamples describes only those that
        # happened to keep their minima, and reads far narrower than the real uncertainty.
        used = getattr(self, "n_boot_used_", None)
        if used is not None and self.n_boot_run > 0 and used < 0.5 * self.n_boot_run:
            out.append(f"UNDER-DETERMINED: only {used} of {self.n_boot_run} bootstrap resamples could be fitted, "
                       "so the intervals describe those few and understate the uncertainty")
        if not self.converged_:
            out.append("NOT CONVERGED: the optimiser stopped before its tolerance; the parameters are not an optimum")
        return out

    # -- FLOP convention of the fitted points ------------------------------------------------
    def tokens_for(self, c: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
        """D such that a model of n parameters trained on D tokens costs c, in the points' convention."""
        return np.asarray(self._tokens_for(c, n), dtype=float)

    def compute_for(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        return np.asarray(self._compute_for(n, d), dtype=float)

    def optimum(self, p: LawParams, c: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """(N_opt, D_opt) of a Chinchilla-form law at budget c, in the points' FLOP convention."""
        return optimum_on_budget(p, c, self.flops_per_token_, self.tokens_for)

    # -- capabilities (a law sets the flag and overrides) ------------------------------------
    def predict(self, n: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
        raise FitInputError(f"{self.name} does not predict a loss at (N, D)")

    def predict_interval(self, n: np.ndarray | float, d: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        shape = np.broadcast(np.asarray(n), np.asarray(d)).shape
        return np.full(shape, np.nan), np.full(shape, np.nan)

    def predict_points(self, points: Points) -> np.ndarray:
        return self.predict(points.n, points.d)

    def n_opt(self, c: np.ndarray | float) -> np.ndarray:
        raise FitInputError(f"{self.name} gives no compute-optimal allocation")

    def d_opt(self, c: np.ndarray | float) -> np.ndarray:
        # The tokens C buys at N_opt in the points' convention, so (N_opt, D_opt, C) satisfy it
        # exactly; a law without an allocation refuses in n_opt.
        return self.tokens_for(c, self.n_opt(c))

    def optimal_loss(self, c: np.ndarray | float) -> np.ndarray:
        if not self.can_predict:
            raise FitInputError(f"{self.name} does not predict a loss")
        return self.predict(self.n_opt(c), self.d_opt(c))

    def inference_optimum(self, c: float, inference_tokens: float) -> dict[str, float] | None:
        """The inference-aware optimum (Sardana & Frankle 2023) for the loss optimal at c, or None
        for a law without one."""
        return None

    def allocation_ci(self, budgets: dict[str, float]) -> dict[str, list[float]]:
        """Bootstrap intervals of allocation quantities, keyed like ``Allocation.ci`` (none by default)."""
        return {}

    def allocation_exponents(self) -> tuple[float, float, float | None]:
        """(a, b, G) of N_opt ∝ C^a, D_opt ∝ C^b for the allocation table."""
        return self.params_["a"], self.params_["b"], None

    # -- output --------------------------------------------------------------------------------
    def result(self) -> LawResult:
        return LawResult(law=self.name, n_points=self.n_points_, params=dict(self.params_), ci=dict(self.ci_),
                         objective=self.objective_, converged=self.converged_, warnings=list(self.warnings_),
                         details=dict(self.details_), flops_convention=self.flops_convention_)

    @classmethod
    def headline(cls, r: LawResult) -> str:
        """One stdout line: the key parameters with their intervals, the holdout, every warning."""
        keys = [k for k in (cls.headline_keys if cls.headline_keys is not None else r.params) if k in r.params]
        s = f"{cls.name}: " + ", ".join(_fmt_param(cls.param_labels.get(k, k), r.params[k], r.ci.get(k)) for k in keys)
        if r.allocation and r.allocation.tokens_per_param:
            c, tpp = list(r.allocation.tokens_per_param.items())[-1]
            s += f"; {tpp:.3g} tokens/param at C={c} ({r.flops_convention})"
        if r.holdout:
            h = r.holdout
            s += (f"; holdout of the {h.k} largest-C points predicted to within mean |err| "
                  f"{100 * h.mean_abs_rel_error:.2f}%, max {100 * h.max_abs_rel_error:.2f}%")
        return s + warnings_tail(r)

    @classmethod
    def published(cls) -> dict[str, tuple[str, dict[str, float]]]:
        """Published values to set beside the fit: {short name: (column heading, {parameter: value})}."""
        return {}

    @classmethod
    def report_section(cls, r: LawResult, figs: dict[str, str]) -> str:
        return law_section(cls, r, figs)

    @classmethod
    def extra_section(cls, r: LawResult) -> list[str]:
        """Law-specific markdown lines after the parameter table (default none)."""
        return []

    def plots(self, report: Any, out_dir: Any, tag: str = "") -> dict[str, str]:
        """The law's own figures (beyond the shared ones); {figure: png name}. ``tag`` ends every
        file name ("" or "_<data set>" when each data set is fitted on its own)."""
        return {}


def _fmt_param(label: str, v: float, ci: list[float] | None) -> str:
    s = f"{label} {v:.3g}"
    if ci and ci[0] is not None and math.isfinite(ci[0]):
        s += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
    return s


# -- registry ----------------------------------------------------------------------------------
def law_names() -> list[str]:
    """Every law's name, from the module names alone (cheap: imports no law)."""
    pkg = importlib.import_module(LAWS_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


@lru_cache(maxsize=None)
def registry() -> dict[str, type[Law]]:
    """{name: Law subclass} for every module of harness.fit.laws, in report order."""
    found: dict[str, type[Law]] = {}
    for mod_name in law_names():
        mod = importlib.import_module(f"{LAWS_PACKAGE}.{mod_name}")
        classes = [v for v in vars(mod).values()
                   if isinstance(v, type) and issubclass(v, Law) and v is not Law and v.__module__ == mod.__name__]
        if len(classes) != 1 or classes[0].name != mod_name:
            raise RuntimeError(f"{mod.__name__} must define exactly one Law subclass named {mod_name!r}")
        found[mod_name] = classes[0]
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def check_law_names(names: Any, what: str = "law") -> None:
    """A one-line FitInputError for any name that is not a law (a typo in --law or sweep.fit_laws)."""
    known = law_names()
    bad = [n for n in names if n not in known]
    if bad:
        raise FitInputError(f"{what}: unknown law{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
                            f"choose from {', '.join(known)}")


def get_law(name: str) -> type[Law]:
    check_law_names([name])
    return registry()[name]
