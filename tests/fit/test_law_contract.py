"""The contract every registered law keeps (scikit-learn style), checked on every law of the
registry with its own example points (tests/fit/law_examples.py), and shown to catch a law that
breaks it (the toy laws at the end).

The contract: the constructor takes settings only and stores each one unchanged under its name
(``get_params`` gives them back, and makes the same law again); ``fit`` returns self and leaves the
settings as they were; what it learns ends in ``_`` and does not exist before; ``result()``
serialises to JSON; the headline is one line (then one line per warning); a law that says it
predicts or allocates does.
"""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest

from harness.fit.law import Law, law_names, registry
from harness.fit.points import Points
from tests.fit.law_examples import EXAMPLES, isoflop_points

LEARNED = ("params_", "ci_", "objective_", "converged_", "warnings_", "n_points_", "details_", "flops_convention_")
# Fitting these from their grids of starts takes seconds each.
SLOW = {"chinchilla", "data_constrained", "shared"}


class _Setting:
    """A setting value no law could make itself: a constructor that does anything with it fails."""

    def __init__(self, name: str) -> None:
        self.name = name


def _settings_problems(cls: type[Law]) -> list[str]:
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    given = {p: _Setting(p) for p in names}
    try:
        law = cls(**given)
    except Exception as e:
        return [f"the constructor works on its settings ({type(e).__name__}: {e})"]
    problems = []
    if ("pin" in names) != cls.can_pin:
        problems.append("can_pin does not say whether the constructor takes pin")
    kept = law.get_params()
    if set(kept) != set(given) or any(kept[p] is not v for p, v in given.items()):
        problems.append("the constructor does not store every setting unchanged under its name")
    extra = sorted(set(vars(law)) - set(given))
    if extra:
        problems.append(f"the constructor sets more than its settings: {', '.join(extra)}")
    again = cls(**kept).get_params()
    if any(again[p] is not v for p, v in kept.items()):
        problems.append("get_params does not make the same law again")
    return problems


def _learned(law: Law) -> list[str]:
    return sorted(a for a in dir(law) if a.endswith("_") and not a.startswith("_"))


def _fit_problems(cls: type[Law], points: Points) -> tuple[Law | None, list[str]]:
    law = cls(n_bootstrap=2, seed=0)
    problems = [f"learned attribute {a} exists before fit" for a in _learned(law)]
    settings, before = law.get_params(), set(vars(law))
    if law.fit(points) is not law:
        return None, problems + ["fit does not return self"]
    if any(law.get_params()[p] is not v for p, v in settings.items()):
        problems.append("fit changes the settings")
    public = sorted(a for a in set(vars(law)) - before if not a.startswith("_") and not a.endswith("_"))
    if public:
        problems.append(f"fit sets attributes whose names do not end in _: {', '.join(public)}")
    problems += [f"fit does not set {a}" for a in LEARNED if not hasattr(law, a)]
    return law, problems


def _output_problems(law: Law, points: Points) -> list[str]:
    cls = type(law)
    problems = []
    if not (isinstance(law.params_, dict) and all(isinstance(v, float) for v in law.params_.values())):
        problems.append("params_ is not a dict of floats")
    if not set(law.ci_) <= set(law.params_):
        problems.append("ci_ names a parameter params_ lacks")
    if law.flops_convention_ != points.flops_convention:
        problems.append(f"flops_convention_ {law.flops_convention_!r} is not the points' {points.flops_convention!r}")
    r = law.result()
    try:
        back = json.loads(json.dumps(r.to_json(), allow_nan=False))
    except (TypeError, ValueError) as e:
        return problems + [f"result() does not serialise to JSON ({e})"]
    if back["law"] != cls.name or back["params"].keys() != law.params_.keys():
        problems.append("result() does not carry the law's name and parameters")
    first, *rest = cls.headline(r).split("\n")
    if not first.startswith(f"{cls.name}: ") or not all(line.startswith(("  ! ", "  (")) for line in rest):
        problems.append("the headline is not one line followed by its warnings")
    if not cls.report_section(r, {}).startswith(f"## {cls.name}"):
        problems.append("the report section does not start with the law's heading")
    if cls.can_predict and not np.all(np.isfinite(law.predict(points.n, points.d))):
        problems.append("can_predict, but predict gives a non-finite loss")
    c = 10 * float(points.c.max())
    if cls.can_allocate and not (law.n_opt(c) > 0 and law.d_opt(c) > 0):
        problems.append("can_allocate, but n_opt or d_opt is not positive")
    return problems


def contract_problems(cls: type[Law], points: Points) -> list[str]:
    """Every way ``cls`` breaks the contract when fitted to ``points`` (none: it keeps it)."""
    problems = _settings_problems(cls)
    law, fit_problems = _fit_problems(cls, points)
    problems += fit_problems
    if law is not None and not fit_problems:
        problems += _output_problems(law, points)
    return problems


def test_every_registered_law_has_example_points():
    assert sorted(EXAMPLES) == law_names()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in law_names()])
def test_every_law_keeps_the_contract(name, tmp_path):
    assert contract_problems(registry()[name], EXAMPLES[name](tmp_path)) == []


# -- toy laws that each break one clause: the same check must name it ----------------------------
class _ToyLaw(Law):
    """A law that keeps the contract: E is the lowest loss."""

    name = "toy"

    def _fit(self, points: Points) -> None:
        self.params_ = {"E": float(points.loss.min())}


class _CastsASetting(_ToyLaw):
    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0) -> None:
        super().__init__(n_bootstrap=int(n_bootstrap), ci_level=ci_level, seed=seed)


class _LearnsInTheConstructor(_ToyLaw):
    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.params_ = {}


class _FitReturnsNothing(_ToyLaw):
    def fit(self, points: Points) -> None:  # type: ignore[override]
        super().fit(points)


class _LearnsWithoutUnderscore(_ToyLaw):
    def _fit(self, points: Points) -> None:
        super()._fit(points)
        self.slope = 1.0


class _ChangesItsSeed(_ToyLaw):
    def _fit(self, points: Points) -> None:
        super()._fit(points)
        self.seed += 1


class _UnserialisableDetails(_ToyLaw):
    def _fit(self, points: Points) -> None:
        super()._fit(points)
        self.details_ = {"runs": {"a", "b"}}


class _HeadlineOverTwoLines(_ToyLaw):
    @classmethod
    def headline(cls, r):
        return f"{cls.name}:\nE {r.params['E']:.3g}"


class _PredictsNothing(_ToyLaw):
    can_predict = True

    def predict(self, n, d):
        return np.full(np.shape(n), math.nan)


class _PinsUnsaid(_ToyLaw):
    def __init__(self, n_bootstrap: int = 0, ci_level: float = 0.95, seed: int = 0, pin=None) -> None:
        super().__init__(n_bootstrap=n_bootstrap, ci_level=ci_level, seed=seed)
        self.pin = pin


@pytest.mark.parametrize("toy, problem", [
    (_PinsUnsaid, "can_pin does not say whether the constructor takes pin"),
    (_CastsASetting, "the constructor works on its settings (TypeError: int() argument must be"),
    (_LearnsInTheConstructor, "the constructor sets more than its settings: params_"),
    (_FitReturnsNothing, "fit does not return self"),
    (_LearnsWithoutUnderscore, "fit sets attributes whose names do not end in _: slope"),
    (_ChangesItsSeed, "fit changes the settings"),
    (_UnserialisableDetails, "result() does not serialise to JSON (Object of type set is not JSON serializable)"),
    (_HeadlineOverTwoLines, "the headline is not one line followed by its warnings"),
    (_PredictsNothing, "can_predict, but predict gives a non-finite loss"),
])
def test_a_law_that_breaks_the_contract_is_caught(toy, problem):
    problems = contract_problems(toy, isoflop_points())
    assert any(p.startswith(problem) for p in problems), problems


def test_the_toy_law_itself_keeps_the_contract():
    assert contract_problems(_ToyLaw, isoflop_points()) == []
