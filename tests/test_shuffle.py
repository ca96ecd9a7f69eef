"""The epoch shuffle (gdlab.core.shuffle): valid, uniform, reproducible permutations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from gdlab.core import shuffle
from gdlab.core.shuffle import (
    PLAIN,
    _deal,
    _fisher_yates,
    _shuffle_buckets,
    _words,
    permutation,
)

# permutation(np.random.default_rng(0), 10): the same with the plain and the compiled loops
KNOWN_10 = [9, 2, 3, 7, 0, 6, 1, 4, 5, 8]


@pytest.fixture(scope="module")
def compiled():
    """The compiled twin of the shuffle's loops (numba)."""
    from gdlab.engines.compiled import ENGINE

    return ENGINE.twin("shuffle")


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


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"'n' parameter of permutation must be an int in the "
                                         r"range \[0, inf\). Got -1 instead"):
        permutation(rng, -1)
    with pytest.raises(TypeError, match="must be an int .* Got 2.5 of type float"):
        permutation(rng, 2.5)
    with pytest.raises(TypeError, match=r"'rng' parameter of permutation must be a "
                                        r"numpy.random.Generator .*default_rng\(0\).*type int"):
        permutation(0, 5)
    with pytest.raises(TypeError, match="type RandomState"):
        permutation(np.random.RandomState(0), 5)


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


@pytest.mark.numba
def test_same_permutation_on_one_thread():
    import numba

    a = permutation(np.random.default_rng(4), 1_000_003)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = permutation(np.random.default_rng(4), 1_000_003)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.PCG64DXSM,
                                           np.random.Philox, np.random.SFC64,
                                           np.random.MT19937])
def test_words_are_full_range_integers_for_every_bit_generator(bit_generator):
    # the raw-output shortcut must give exactly rng.integers' words and leave the same state
    # (MT19937's raw outputs are 32-bit: it takes the integers path)
    a = np.random.Generator(bit_generator(3))
    b = np.random.Generator(bit_generator(3))
    got = _words(a, 257)
    want = b.integers(0, np.iinfo(np.uint64).max, size=257, dtype=np.uint64, endpoint=True)
    assert got.dtype == np.uint64 and np.array_equal(got, want)
    assert np.array_equal(a.integers(2**62, size=8), b.integers(2**62, size=8))  # same state
    assert permutation(a, 5000).tolist() == permutation(b, 5000).tolist()
    if bit_generator is np.random.MT19937:
        assert got.max() >= 2**32  # whole 64-bit words, not raw 32-bit outputs


def _random_words(size, seed):
    return np.random.default_rng(seed).integers(0, np.iinfo(np.uint64).max, size=size,
                                                dtype=np.uint64, endpoint=True)


@pytest.mark.numba
@pytest.mark.parametrize("n", [0, 1, 2, 333, 1797, shuffle.BUCKET_ROWS, shuffle.BUCKET_ROWS + 1,
                               100_003])
def test_plain_and_compiled_loops_give_the_same_permutation(n, compiled):
    # the plain Python loops (no numba) and their compiled twin: one algorithm, one result
    a_rng, b_rng = np.random.default_rng(n), np.random.default_rng(n)
    a = permutation(a_rng, n, PLAIN)
    b = permutation(b_rng, n, compiled)
    assert compiled.compiled and not PLAIN.compiled
    assert a.dtype == b.dtype == np.int64
    assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.arange(n))
    assert a_rng.bit_generator.state == b_rng.bit_generator.state


def test_plain_loops_known_permutation():
    # pinned values: the same with and without numba (the no-numba CI run checks this too)
    assert permutation(np.random.default_rng(0), 10, PLAIN).tolist() == KNOWN_10
    assert permutation(np.random.default_rng(0), 10).tolist() == KNOWN_10


def test_only_large_n_loads_the_compiled_loops(monkeypatch):
    asked = []
    monkeypatch.setattr(shuffle, "accelerated",
                        lambda name, load, size: asked.append((name, load)))
    for n in (333, shuffle.COMPILED_MIN_ROWS - 1, shuffle.COMPILED_MIN_ROWS):
        assert shuffle.loops_for(n) is PLAIN  # no engine answered
    # below COMPILED_MIN_ROWS only what the process has loaded already
    assert asked == [("shuffle", False), ("shuffle", False), ("shuffle", True)]


@pytest.mark.numba
def test_cold_cache_compiles_the_shuffle_only_for_many_rows(monkeypatch):
    from gdlab.engines import compiled

    engine = compiled.CompiledEngine()
    monkeypatch.setattr(compiled, "COMPILE", "auto")
    monkeypatch.setattr(compiled, "_TWINS", {})
    monkeypatch.setattr(compiled, "is_cached", lambda d: False)
    assert engine.twin("shuffle", load=True, size=compiled.COLD_SHUFFLE_ROWS - 1) is None
    assert engine.twin("shuffle", load=False) is None  # nothing loaded
    assert engine.twin("shuffle", load=True, size=compiled.COLD_SHUFFLE_ROWS).compiled
    assert engine.twin("shuffle", load=False).compiled  # loaded now: used for every size
    monkeypatch.setattr(compiled, "_TWINS", {})
    monkeypatch.setattr(compiled, "is_cached", lambda d: True)  # a warm cache: any size
    assert engine.twin("shuffle", load=True, size=shuffle.COMPILED_MIN_ROWS).compiled


def test_plain_fisher_yates_reports_running_out_of_words():
    out = list(range(100))
    assert _fisher_yates(out, 0, 100, [0, 0, 0], 0, 3) == -1


@pytest.mark.numba
def test_compiled_kernels_equal_the_python_reference(compiled):
    _deal_nb, _shuffle_buckets_nb = compiled.deal, compiled.shuffle_buckets
    _fisher_yates_nb = compiled.fisher_yates
    for n, bits in ((300, 3), (1000, 6), (700, 10)):
        ids = _random_words(n, n)
        a, b = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        ends_a = _deal_nb(n, bits, ids, a, 3)
        ends_b = _deal(n, bits, ids, b, 1)  # the layout does not depend on the parts
        assert np.array_equal(ends_a, ends_b) and np.array_equal(a, b)
        ids_per = 64 // bits
        bucket = [(int(ids[i // ids_per]) >> (bits * (i % ids_per))) & ((1 << bits) - 1)
                  for i in range(n)]
        assert np.array_equal(np.asarray(bucket)[a], np.sort(bucket))  # buckets in order
        sizes = np.diff(ends_a, prepend=0)
        w_ends = np.cumsum((sizes + 1) // 2 + 8)
        draws = _random_words(int(w_ends[-1]), n + 1)
        assert _shuffle_buckets_nb(a, ends_a, draws, w_ends) == 0
        assert _shuffle_buckets(b, ends_b, draws, w_ends) == 0
        assert np.array_equal(a, b) and np.array_equal(np.sort(a), np.arange(n))
    out_a, out_b = np.arange(9), np.arange(9)
    words = _random_words(20, 9)
    assert _fisher_yates_nb(out_a, 0, 9, words, 0, 20) == 0
    assert _fisher_yates(out_b, 0, 9, words, 0, 20) == 0
    assert np.array_equal(out_a, out_b) and not np.array_equal(out_a, np.arange(9))


@pytest.mark.numba
def test_fisher_yates_reports_running_out_of_words(compiled):
    _fisher_yates_nb = compiled.fisher_yates
    words = np.zeros(3, dtype=np.uint64)
    assert _fisher_yates_nb(np.arange(100), 0, 100, words, 0, 3) == -1
