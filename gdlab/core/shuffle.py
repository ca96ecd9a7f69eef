"""The epoch shuffle: a uniformly random permutation of the rows, drawn fast.

Every shuffled epoch starts with a fresh permutation of its n rows. NumPy's
``Generator.permutation(n)`` is a sequential Fisher-Yates shuffle with one bounded draw per
swap, on an int64 array as large as X has rows: 10^6 rows take 35-90 ms, a third of a
whole compiled mini-batch epoch over 1M x 100. :func:`permutation` draws from the same
distribution, the uniform one, in ~16 ms for 10^6 rows on 2 threads (small n: about the
same as NumPy, ~40 us for 1,797 rows, most of it the call that draws the random words), by
the Rao-Sandelius method:

1. every index 0..n-1 goes to one of B = 2^k buckets, uniformly and independently (k random
   bits per index from 64-bit words); a stable counting sort lays the buckets out one after
   another (counted and scattered in parallel over ranges of indices);
2. each bucket is shuffled in place by Fisher-Yates (Durstenfeld's form), the buckets in
   parallel, each from its own share of random words. B is chosen so that a bucket holds
   about ``BUCKET_ROWS`` indices and stays in L1/L2 while it is shuffled.

Given the bucket sizes, every arrangement of the indices is equally likely, so the result is
a uniform random permutation (Rao 1961; Sandelius 1962). With n <= ``BUCKET_ROWS`` there is one
bucket: plain Fisher-Yates.

Randomness comes from the caller's :class:`numpy.random.Generator` only: ``rng.integers``
over the full uint64 range draws the words for the bucket ids, then those for the
Fisher-Yates draws (one call each), so the same generator state gives the same permutation
on any number of threads, and the generator's state afterwards (what a checkpoint stores) is
determined by its state before. Bounded draws use Lemire's multiply-shift on 32-bit halves of
those words, with rejection: exactly uniform. Rejections are rare (probability < bucket size
/ 2^32 per draw); each bucket's words include a reserve for them, and if one ever runs out,
every bucket's words are drawn again with a larger reserve.

The loops (:func:`_fisher_yates`, :func:`_deal`, :func:`_shuffle_buckets`) are plain Python
that runs as-is, on Python ints and lists (``u64``, ``i64`` and ``prange`` below are ``int``,
``int`` and ``range``). The compiled engine compiles the same functions with numba, rebinding
those names to ``np.uint64``, ``np.int64`` and ``numba.prange`` (``twin("shuffle")`` in
:mod:`gdlab.engines.compiled`); :func:`permutation` takes the compiled twin from
:func:`gdlab.core.engine.accelerated` above ``COMPILED_MIN_ROWS`` rows, or when this process
has loaded it already, and the plain loops otherwise: the same permutation either way.
Plain Python shuffles ~1 us per index (16,384 in ~15 ms), the compiled twin ~10 ns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import check_scalar
from gdlab.core.engine import accelerated

__all__ = ["BUCKET_ROWS", "COMPILED_MIN_ROWS", "PLAIN", "Loops", "permutation"]

#: Target bucket size (indices): 16384 int64 indices = 128 KiB, cache-resident while shuffled.
BUCKET_ROWS = 16384
#: From this many indices :func:`permutation` loads the compiled loops (when an engine has
#: them): below it the plain loops cost less than loading numba (~0.3 s) would.
COMPILED_MIN_ROWS = BUCKET_ROWS + 1
# at most 2^10 buckets: bucket ids are packed 6 per 64-bit word at 10 bits
_MAX_BITS = 10

# The plain loops' number types and parallel range; the compiled twin rebinds these names to
# np.uint64, np.int64 and numba.prange (Python ints are exact, numba needs the 64-bit types).
u64: Callable[[Any], Any] = int
i64: Callable[[Any], Any] = int
prange = range


def _bucket_bits(n: int) -> int:
    """log2 of the number of buckets for n indices (0: one bucket, plain Fisher-Yates)."""
    bits = 0
    while bits < _MAX_BITS and (n >> bits) > BUCKET_ROWS:
        bits += 1
    return bits


def _fisher_yates(out: Any, lo: int, hi: int, words: Any, w0: int, w1: int) -> int:
    """Shuffle out[lo:hi] in place (Durstenfeld), drawing from words[w0:w1].

    Each bounded draw takes the next 32-bit half of a word (low half first) and Lemire's
    multiply-shift with rejection: exactly uniform. Returns 0, or -1 when the words ran out
    (out[lo:hi] is then only partly shuffled).
    """
    low = u64(0xFFFFFFFF)
    half = 0  # 32-bit halves used so far
    for i in range(hi - 1, lo, -1):
        bound = u64(i - lo + 1)
        threshold = u64(0)  # 2^32 mod bound, computed only when it can matter
        while True:
            k = w0 + (half >> 1)
            if k >= w1:
                return -1
            r = (words[k] >> u64(32 * (half & 1))) & low
            half += 1
            prod = r * bound  # < 2^64: both factors < 2^32
            frac = prod & low
            if frac >= bound:  # >= bound > threshold: accepted without a division
                break
            if threshold == 0:
                threshold = (u64(1 << 32) - bound) % bound
            if frac >= threshold:
                break
        j = lo + i64(prod >> u64(32))
        t = out[i]
        out[i] = out[j]
        out[j] = t
    return 0


def _deal(n: int, bits: int, words: Any, out: Any, parts: int) -> Any:
    """Deal 0..n-1 into 2^bits buckets by the random ``words``; return each bucket's end.

    Index i goes to bucket ``(words[i // per] >> (bits * (i % per))) & (2^bits - 1)`` with
    ``per = 64 // bits``; bucket b is laid out in ``out[ends[b - 1]:ends[b]]`` in increasing
    index order (a stable counting sort). The indices are cut into ``parts`` ranges of whole
    words, counted and scattered in parallel; the layout does not depend on ``parts``.
    """
    n_buckets = 1 << bits
    mask = u64(n_buckets - 1)
    per = 64 // bits
    n_words = (n + per - 1) // per
    counts = np.zeros((parts, n_buckets), dtype=np.int64)
    for p in prange(parts):
        for k in range(p * n_words // parts, (p + 1) * n_words // parts):
            word = words[k]
            for _ in range(min(per, n - k * per)):  # (word, slot) loops: no division
                counts[p, word & mask] += 1
                word >>= u64(bits)
    pos = np.empty((parts, n_buckets), dtype=np.int64)  # where part p writes in bucket b
    ends = np.empty(n_buckets, dtype=np.int64)
    total = 0
    for b in range(n_buckets):
        for p in range(parts):
            pos[p, b] = total
            total += counts[p, b]
        ends[b] = total
    for p in prange(parts):
        at = pos[p]
        for k in range(p * n_words // parts, (p + 1) * n_words // parts):
            word = words[k]
            for i in range(k * per, min(n, (k + 1) * per)):
                b = word & mask
                out[at[b]] = i
                at[b] += 1
                word >>= u64(bits)
    return ends


def _shuffle_buckets(out: Any, ends: Any, words: Any, w_ends: Any) -> int:
    """Fisher-Yates inside every bucket, in parallel; bucket b draws from its own words
    ``words[w_ends[b - 1]:w_ends[b]]``, so the result does not depend on the thread count.
    Returns 0, or -1 when some bucket ran out of words."""
    n_buckets = ends.shape[0]
    status = np.zeros(n_buckets, dtype=np.int64)
    for b in prange(n_buckets):
        lo = ends[b - 1] if b > 0 else 0
        w0 = w_ends[b - 1] if b > 0 else 0
        status[b] = _fisher_yates(out, lo, ends[b], words, w0, w_ends[b])
    return int(status.min())


class Loops(NamedTuple):
    """The shuffle's loops: the plain functions above, or their compiled twins.

    ``compiled``: the loops take NumPy arrays (uint64 words, int64 indices); the plain ones
    take Python lists of ints, ~5x faster in the interpreter than NumPy scalars.
    """

    fisher_yates: Callable[..., int]
    deal: Callable[..., Any]
    shuffle_buckets: Callable[..., int]
    compiled: bool


PLAIN = Loops(_fisher_yates, _deal, _shuffle_buckets, compiled=False)

#: 64-bit words of spare draws per bucket for rejected draws (probability < bucket / 2^32
#: per draw); when a bucket runs out, every bucket's words are drawn again with more spare.
SPARE_WORDS = 8
# the dealing runs in this many index ranges (any number gives the same layout)
_DEAL_PARTS = 8


# bit generators whose raw outputs are whole 64-bit words (MT19937's are 32-bit)
_RAW64 = (np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64)


def _words(rng: np.random.Generator, size: int) -> NDArray[np.uint64]:
    """``size`` uniform 64-bit words: rng.integers(0, 2**64 - 1, endpoint=True)."""
    if type(rng.bit_generator) in _RAW64:
        # the same words, and the same state afterwards, ~3x faster for a few thousand
        return rng.bit_generator.random_raw(size)
    return rng.integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64, endpoint=True)


def loops_for(n: int) -> Loops:
    """The loops that shuffle n indices: compiled from ``COMPILED_MIN_ROWS`` on (or when
    loaded already) where an engine has them, plain otherwise."""
    found = accelerated("shuffle", load=n >= COMPILED_MIN_ROWS, size=n)
    return PLAIN if found is None else found


def permutation(rng: np.random.Generator, n: int, loops: Loops | None = None
                ) -> NDArray[np.int64]:
    """A uniformly random permutation of ``range(n)``, drawn from ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness; advanced by the words drawn.
    n : int
        Number of indices, >= 0.
    loops : Loops, optional
        The loops to run (default: :func:`loops_for`); every choice gives the same result.

    Returns
    -------
    ndarray of shape (n,), int64
        Each of the n! orders with probability 1 / n!. The same ``rng`` state gives the same
        array (but not the same array as ``rng.permutation(n)``: another algorithm), on any
        number of threads, with or without the compiled loops.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "The 'rng' parameter of permutation must be a numpy.random.Generator (for example "
            f"np.random.default_rng(0)). Got {rng!r} of type {type(rng).__name__} instead."
        )
    n = check_scalar(n, "n", kind=int, low=0, owner="permutation")
    lp = loops_for(n) if loops is None else loops

    def arrays(a: Any) -> Any:  # what the loops take: arrays compiled, lists plain
        return a if lp.compiled else a.tolist()

    bits = _bucket_bits(n)
    if bits == 0:  # one bucket: Fisher-Yates over the whole range
        out = arrays(np.arange(n, dtype=np.int64))
        n_words = (n + 1) // 2 + 64 + n // 1024
        while lp.fisher_yates(out, 0, n, arrays(_words(rng, n_words)), 0, n_words) != 0:
            out = arrays(np.arange(n, dtype=np.int64))  # pragma: no cover - reserve ran out
            n_words *= 2  # pragma: no cover
        return np.asarray(out, dtype=np.int64)
    per = 64 // bits
    ids = arrays(_words(rng, (n + per - 1) // per))
    spare = SPARE_WORDS
    while True:
        out = np.empty(n, dtype=np.int64) if lp.compiled else [0] * n
        ends = lp.deal(n, bits, ids, out, _DEAL_PARTS)
        sizes = np.diff(ends, prepend=0)
        w_ends = np.cumsum((sizes + 1) // 2 + spare)
        words = arrays(_words(rng, int(w_ends[-1])))
        if lp.compiled:
            status = lp.shuffle_buckets(out, ends, words, w_ends)
        else:
            status = lp.shuffle_buckets(out, np.asarray(ends.tolist(), dtype=object), words,
                                        np.asarray(w_ends.tolist(), dtype=object))
        if status == 0:
            return np.asarray(out, dtype=np.int64)
        spare *= 4  # pragma: no cover - a bucket's spare draws ran out (probability ~ 0)
