"""The epoch shuffle (gdlab.shuffle): valid, uniform, reproducible permutations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gdlab import shuffle
from gdlab.shuffle import _shuffle_into, _shuffle_kernel, permutation


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1797, shuffle.BUCKET_ROWS, shuffle.BUCKET_ROWS + 1,
                               100_003, 1_000_000])
def test_is_a_permutation(n):
    p = permutation(np.random.default_rng(n), n)
    assert p.dtype == np.int64 and p.shape == (n,)
    assert np.array_equal(np.sort(p), np.arange(n))


def test_bucket_count_grows_with_n():
    assert shuffle._bucket_bits(shuffle.BUCKET_ROWS) == 0
    assert shuffle._bucket_bits(shuffle.BUCKET_ROWS + 1) == 1
    assert shuffle._bucket_bits(1_000_000) == 6  # 64 buckets of ~15,600
    assert shuffle._bucket_bits(10**9) == shuffle._MAX_BITS


def test_same_generator_state_same_permutation_and_state():
    a_rng, b_rng = np.random.default_rng(7), np.random.default_rng(7)
    a, b = permutation(a_rng, 50_000), permutation(b_rng, 50_000)
    assert np.array_equal(a, b)
    assert a_rng.bit_generator.state == b_rng.bit_generator.state
    assert not np.array_equal(permutation(a_rng, 50_000), a)  # the generator moved on


def test_bad_n():
    with pytest.raises(ValueError, match="n must be >= 0. Got -1"):
        permutation(np.random.default_rng(0), -1)


@pytest.mark.parametrize("bucket_rows", [100, 2, 1])
def test_uniform_over_all_orders(bucket_rows, monkeypatch):
    # n = 5: all 120 orders equally likely, with one bucket (plain Fisher-Yates), with two
    # buckets and with 4-8 buckets (the Rao-Sandelius split); chi-square at the 1e-4 level
    monkeypatch.setattr(shuffle, "BUCKET_ROWS", bucket_rows)
    rng = np.random.default_rng(bucket_rows)
    n, draws = 5, 24_000
    index = {p: i for i, p in enumerate(itertools.permutations(range(n)))}
    counts = np.zeros(math.factorial(n))
    for _ in range(draws):
        counts[index[tuple(permutation(rng, n))]] += 1
    assert counts.min() > 0
    assert stats.chisquare(counts).pvalue > 1e-4


def test_positions_uniform_with_many_buckets():
    # 64 buckets: where index i lands is uniform over the n positions (chi-square on deciles)
    n, reps = 1_000_000, 20
    rng = np.random.default_rng(3)
    deciles = np.zeros((4, 10))
    probes = np.array([0, 1, n // 2, n - 1])
    for _ in range(reps):
        inv = np.empty(n, dtype=np.int64)
        inv[permutation(rng, n)] = np.arange(n)
        deciles[np.arange(4), inv[probes] * 10 // n] += 1
    for row in deciles:  # 20 draws over 10 cells: loose, but catches a stuck index
        assert row.max() <= 8
    # and a bucket's indices are spread over the whole range, not clustered
    p = permutation(rng, n)
    first = p[: n // 64]
    assert stats.kstest(first / n, "uniform").pvalue > 1e-4


def test_compiled_kernel_equals_the_python_reference():
    for n, bits in ((9, 0), (300, 3), (1000, 6), (700, 10)):
        words = np.random.default_rng(n).integers(0, np.iinfo(np.uint64).max, size=2 * n + 64,
                                                  dtype=np.uint64, endpoint=True)
        a, b = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        assert _shuffle_kernel(n, bits, words, a) == 0
        assert _shuffle_into(n, bits, words, b) == 0
        assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.arange(n))


def test_kernel_reports_running_out_of_words():
    words = np.zeros(3, dtype=np.uint64)
    assert _shuffle_kernel(100, 0, words, np.empty(100, dtype=np.int64)) == -1
