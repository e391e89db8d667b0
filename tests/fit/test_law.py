"""The one Law interface: a registry found from the modules of harness/fit/laws, read by the CLI.
What every law must do once found is test_law_contract.py's."""

from __future__ import annotations

import pytest

from harness.errors import FitInputError
from harness.fit.law import Law, check_law_names, get_law, law_names, registry


def test_registry_is_the_laws_package_and_module_names_are_law_names():
    names = law_names()
    assert {"approach1", "approach2", "chinchilla", "kaplan", "data_constrained", "shared", "critical_batch"} <= set(names)
    reg = registry()
    assert sorted(reg) == names
    for name, cls in reg.items():
        assert issubclass(cls, Law) and cls.name == name and cls.title
        assert cls.__module__ == f"harness.fit.laws.{name}"
    assert [c.name for c in reg.values() if c.pools_datasets] == ["shared"]


def test_cli_choices_come_from_the_registry(capsys):
    from harness.cli.fit import build_parser

    parser = build_parser()
    for name in law_names():
        assert parser.parse_args(["points.csv", "--law", name]).law == [name]
    with pytest.raises(SystemExit):
        parser.parse_args(["points.csv", "--law", "approach4"])
    assert "(choose from " + ", ".join(map(repr, law_names())) + ")" in capsys.readouterr().err


def test_unknown_law_is_one_line():
    with pytest.raises(FitInputError, match=r"^--law: unknown law 'chinchila'; choose from annealing, approach1, "):
        check_law_names(["chinchilla", "chinchila"], "--law")
    with pytest.raises(FitInputError, match="unknown law"):
        get_law("approach4")


def test_the_laws_fitted_by_default_are_the_three_of_hoffmann_and_kaplan_on_plain_points():
    from tests.fit.law_examples import isoflop_points

    pts = isoflop_points()
    assert [n for n, cls in registry().items() if cls.default_for(pts)] == ["chinchilla", "approach2", "approach1", "kaplan"]
