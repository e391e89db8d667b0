"""Loaders: measured points from the files that hold them, one module per kind of input.

A CSV file (``csvfile``), a sweep directory's run records (``sweepdir``, with the training curves
of ``curves``), open_lm result files (``openlm``); ``load_any`` picks by what a path is. Loading
is strict: a value that is missing, non-numeric, non-finite or non-positive is an error naming its
row (``values.positive``), because a silently dropped or zero row bends a log-log fit without
anyone noticing. A record file that cannot be read at all is skipped with a note instead: it holds
no row to bend anything, and one bad file must not stop a whole sweep's fit.
"""

from harness.fit.loaders.csvfile import load_csv
from harness.fit.loaders.dispatch import load_any
from harness.fit.loaders.openlm import load_openlm
from harness.fit.loaders.sweepdir import load_sweep

__all__ = ["load_any", "load_csv", "load_openlm", "load_sweep"]
