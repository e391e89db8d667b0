"""run_main: how every command ends, with its status and at most one line on stderr."""

from __future__ import annotations

import pytest

from harness.cli.common import run_main
from harness.errors import FitInputError, TuningError


def _raising(e: BaseException):
    def run(argv):
        raise e
    return run


def test_the_commands_status_passes_through():
    assert run_main("harness-x", lambda argv: len(argv), ["a", "b"], FitInputError) == 2
    assert run_main("harness-x", lambda argv: 0, None, FitInputError) == 0


def test_an_expected_error_is_one_line_and_status_2(capsys):
    assert run_main("harness-fit", _raising(FitInputError("p.csv: row 1 (line 2): D is missing")), [], FitInputError) == 2
    assert capsys.readouterr().err == "harness-fit: error: p.csv: row 1 (line 2): D is missing\n"


def test_ctrl_c_is_status_130(capsys):
    assert run_main("harness-tune", _raising(KeyboardInterrupt()), [], TuningError) == 130
    assert capsys.readouterr().err == "harness-tune: interrupted\n"


def test_an_error_of_another_kind_is_not_swallowed():
    with pytest.raises(TuningError, match="^no lr grid$"):
        run_main("harness-fit", _raising(TuningError("no lr grid")), [], FitInputError)
