"""Batched L-BFGS in bounded memory: evaluations sliced into rows change no number, the objective
never sees more rows than a slice, and the resample counts are drawn a chunk at a time."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from harness.errors import FitInputError
from harness.fit.laws.chinchilla import epoch_grid
from harness.fit.multistart import (
    BATCH_ELEMENTS,
    Subsample,
    batched_lbfgs,
    check_subsample_points,
    chunked,
    little_bootstrap_subsets,
    resample_chunks,
    rows_within,
    screen_sample,
)
from harness.fit.objective import objective
from harness.fit.results import resample_counts


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log N, log D (in units of their means) and log L of a noisy Chinchilla-form law."""
    rng = np.random.default_rng(seed)
    ln, ld = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
    ll = np.log(1.8 + np.exp(1.0 - 0.34 * ln) + np.exp(1.5 - 0.37 * ld)) + rng.normal(0, 0.005, n)
    return ln, ld, ll


def test_sliced_evaluations_give_the_unsliced_optimum_to_the_last_digit():
    ln, ld, ll = _data(150)
    starts = epoch_grid()[::45] * 0.2  # 100 starts spread over the grid, near the data's scale

    def fun(u, rows):
        return objective(u, ln, ld, ll)

    whole = batched_lbfgs(fun, starts, max_iter=200)
    for rows in (3, 64):
        sliced = batched_lbfgs(fun, starts, max_iter=200, max_rows=rows)
        np.testing.assert_array_equal(sliced.x, whole.x)
        np.testing.assert_array_equal(sliced.f, whole.f)
        np.testing.assert_array_equal(sliced.n_iter, whole.n_iter)
        assert sliced.n_evals == whole.n_evals
    # And the optimum is one: most starts reach the best objective.
    assert np.sum(whole.f <= np.nanmin(whole.f) * (1 + 1e-6)) > 30


def test_the_objective_sees_slices_of_rows_however_many_starts_run():
    seen: list[tuple[int, ...]] = []
    target = np.arange(1.0, 4.0)

    def quadratic(theta, rows):
        seen.append(theta.shape)
        r = theta - target
        return (r * r).sum(axis=1), 2 * r

    for n_starts in (50, 5000):
        seen.clear()
        x0 = np.random.default_rng(1).normal(size=(n_starts, 3))
        res = batched_lbfgs(quadratic, x0, max_rows=64)
        np.testing.assert_allclose(res.x, np.broadcast_to(target, res.x.shape), atol=1e-5)
        assert max(s[0] for s in seen) == min(n_starts, 64)
    # Without slices the first evaluation takes every start at once.
    seen.clear()
    batched_lbfgs(quadratic, np.zeros((5000, 3)), max_iter=1)
    assert seen[0] == (5000, 3)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_an_evaluation_grows_with_the_slice_not_the_starts():
    ln, ld, ll = _data(400)
    fun = chunked(lambda u, rows: objective(u, ln, ld, ll), 20)
    few, many = epoch_grid()[:200] * 0.2, epoch_grid()[:2000] * 0.2
    peak_few = _peak_bytes(lambda: fun(few, np.arange(len(few))))
    peak_many = _peak_bytes(lambda: fun(many, np.arange(len(many))))
    whole_many = _peak_bytes(lambda: objective(many, ln, ld, ll))
    slice_bytes = 20 * 400 * 8
    # Ten times the starts: only the (S,) and (S, 5) results grow, not the (rows, points) temporaries.
    assert peak_many < peak_few + 2000 * 6 * 8 + 128_000, (peak_few, peak_many)
    assert peak_many < 40 * slice_bytes
    # The unsliced evaluation holds dozens of (2000, 400) arrays: 20x more than the sliced one here.
    assert whole_many > 20 * peak_many, (whole_many, peak_many)


def test_rows_within_a_budget():
    assert rows_within(400) == BATCH_ELEMENTS // 400
    assert rows_within(20_000, budget=1_000_000) == 50
    assert rows_within(10**9) == 1  # one row always runs, however long
    # The 4,500-start grid on a committed study's points (a few hundred at most) is one slice.
    assert rows_within(233) >= 4500


def test_resample_chunks_draw_the_counts_of_one_draw():
    whole = resample_counts(37, 50, seed=3)
    for rows in (1, 7, 50, 1000):
        chunks = list(resample_chunks(37, 50, 3, rows))
        assert all(ch.whole and ch.subset == -1 and len(ch.counts) <= rows for ch in chunks)
        assert [ch.lo for ch in chunks] == list(range(0, 50, rows))
        np.testing.assert_array_equal(np.vstack([ch.counts for ch in chunks]), whole)
    # Below max_points the bootstrap stays the ordinary one.
    small = np.vstack([ch.counts for ch in resample_chunks(37, 50, 3, 8, max_points=37)])
    np.testing.assert_array_equal(small, whole)


def test_little_bootstrap_draws_n_from_each_subset():
    chunks = list(resample_chunks(5000, 23, 0, 4, max_points=1000))
    assert little_bootstrap_subsets(5000, 23, 1000) == 5
    # 23 resamples over 5 subsets: 5, 5, 5, 4, 4, four at a time, numbered on from chunk to chunk.
    assert [ch.subset for ch in chunks] == [0, 0, 1, 1, 2, 2, 3, 4]
    assert [len(ch.counts) for ch in chunks] == [4, 1, 4, 1, 4, 1, 4, 4]
    assert [ch.lo for ch in chunks] == [0, 4, 5, 9, 10, 14, 15, 19]
    for ch in chunks:
        assert not ch.whole and len(ch.idx) == 1000 and np.all(np.diff(ch.idx) > 0) and ch.idx.max() < 5000
        assert ch.counts.shape == (len(ch.counts), 1000)
        np.testing.assert_array_equal(ch.counts.sum(axis=1), 5000)  # a resample is still n draws
    # Far more points than subsets times their size: 10 subsets, however many resamples.
    assert little_bootstrap_subsets(100_000, 1000, 2000) == 10
    assert little_bootstrap_subsets(2000, 1000, 2000) == 0
    assert little_bootstrap_subsets(2001, 3, 2000) == 2


def test_screen_sample_is_fixed_sorted_and_whole_when_small():
    a, b = screen_sample(20_000, 2000), screen_sample(20_000, 2000)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 2000 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(screen_sample(50, 2000), np.arange(50))


def test_subsample_note_names_the_step_and_the_counts():
    s = Subsample("the start grid", 2000, 20_000, "refitted on all")
    assert s.note() == "SUBSAMPLED: the start grid ran on 2,000 of the 20,000 points: refitted on all"
    assert s.as_dict() == {"step": "the start grid", "points": 2000, "of": 20_000, "how": "refitted on all"}


@pytest.mark.parametrize("bad", [10, 99, 2.5, "2000", True, None])
def test_subsample_points_must_be_a_whole_number_of_100_or_more(bad):
    with pytest.raises(FitInputError, match="chinchilla: subsample_points must be a whole number of at least 100"):
        check_subsample_points("chinchilla", bad)
    assert check_subsample_points("chinchilla", 100) == 100
