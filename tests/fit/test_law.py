"""The one Law interface: a registry found from the modules of harness/fit/laws, read by the CLI,
and the same learned attributes on every law."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.law import Law, check_law_names, get_law, law_names, registry
from harness.fit.points import Points

LEARNED = ("params_", "ci_", "objective_", "converged_", "warnings_", "n_points_", "details_", "c_convention_")


def test_registry_is_the_laws_package_and_module_names_are_law_names():
    names = law_names()
    assert {"approach1", "approach2", "chinchilla", "kaplan", "data_constrained", "shared", "critical_batch"} <= set(names)
    reg = registry()
    assert sorted(reg) == names
    for name, cls in reg.items():
        assert issubclass(cls, Law) and cls.name == name and cls.title
        assert cls.__module__ == f"harness.fit.laws.{name}"
    assert [c.name for c in reg.values() if c.pools_datasets] == ["shared"]


def test_cli_choices_come_from_the_registry():
    from harness.cli.fit import build_parser

    law_action = next(a for a in build_parser()._actions if a.dest == "law")
    assert list(law_action.choices) == law_names()


def test_unknown_law_is_one_line():
    with pytest.raises(FitInputError, match=r"^--law: unknown law 'chinchila'; choose from annealing, approach1, "):
        check_law_names(["chinchilla", "chinchila"], "--law")
    with pytest.raises(FitInputError, match="unknown law"):
        get_law("approach4")


def _isoflop_points() -> Points:
    from harness.fit.anchors import EPOCH
    rng = np.random.default_rng(0)
    n_l, d_l = [], []
    for c in (1e17, 1e18, 1e19, 1e20):
        for n in np.geomspace(np.sqrt(c / 6) / 8, np.sqrt(c / 6) * 2, 6):
            n_l.append(n); d_l.append(c / (6 * n))
    n, d = np.array(n_l), np.array(d_l)
    return Points.from_arrays(n, d, EPOCH.loss(n, d) * np.exp(rng.normal(0, 0.003, len(n))))


@pytest.mark.parametrize("name", ["chinchilla", "approach2", "approach1", "kaplan"])
def test_every_law_has_the_same_learned_attributes_and_flags_it_honours(name):
    pts = _isoflop_points()
    cls = get_law(name)
    f = cls(n_bootstrap=20, seed=0).fit(pts)
    for attr in LEARNED:
        assert hasattr(f, attr), attr
    assert isinstance(f.params_, dict) and all(isinstance(v, float) for v in f.params_.values())
    assert set(f.ci_) <= set(f.params_) and f.ci_
    assert f.n_points_ == len(pts) and f.c_convention_ == "6ND"
    r = f.result()
    assert r.law == name and r.params == f.params_ and r.warnings == f.warnings_
    if cls.can_predict:
        assert np.all(np.isfinite(f.predict(pts.n, pts.d)))
    if cls.can_allocate:
        assert f.n_opt(1e21) > 0 and f.d_opt(1e21) > 0
    md = cls.report_section(r, {})
    assert md.startswith(f"## {name}") and "| parameter | yours |" in md
    assert cls.headline(r).startswith(f"{name}: ")
