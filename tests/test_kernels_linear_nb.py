"""The compiled linear / logistic pass: its vectorised exp and log1p, the 8-lane BCE step,
and the whole kernel against the plain NumPy formula (1e-12 relative in float64)."""

from __future__ import annotations

import numpy as np
import pytest
from _checks import assert_chunk_sums
from scipy.special import expit

numba = pytest.importorskip("numba")

from gdlab.engines.kernels import linear_loss_grad, plain_linear_loss_grad  # noqa: E402
from gdlab.engines.kernels._linear_f_nb import linear_f_nb  # noqa: E402
from gdlab.engines.kernels._linear_nb import linear_c_nb  # noqa: E402
from gdlab.engines.kernels._pointwise_nb import bce8, exp_nb, log1p_unit_nb, pointwise_one  # noqa: E402

pytestmark = pytest.mark.numba  # the compiled engine's own tests

PT = {"contract"}


@numba.njit(error_model="numpy", fastmath=PT)
def _exp_all(x, out):
    for i in range(x.size):
        out[i] = exp_nb(x[i])


@numba.njit(error_model="numpy", fastmath=PT)
def _log1p_all(t, out):
    for i in range(t.size):
        out[i] = log1p_unit_nb(t[i])


def _ulps(got, ref):
    """|got - ref| in units of ref's last place (exact agreement required where ref is 0)."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_exp_within_one_ulp_over_the_whole_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(-750.0, 712.0, 200_000),
        rng.uniform(-40.0, 0.0, 100_000),
        rng.uniform(-1e-3, 1e-3, 10_000),
        # round-to-nearest-k boundaries (x = (k + 1/2) ln 2) and the subnormal edge
        (np.arange(-1075, 1024) + 0.5) * np.log(2.0),
        np.linspace(-745.2, -708.0, 5_000),
        np.linspace(700.0, 709.8, 1_000),
    ])
    out = np.empty_like(x)
    _exp_all(x, out)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    normal = np.isfinite(ref) & (ref >= np.finfo(np.float64).tiny)
    assert normal.sum() > 300_000
    assert _ulps(out[normal], ref[normal]).max() <= 1.0
    # subnormal results: one rounding from the exact value, so within one unit of 2^-1074
    sub = (ref > 0) & (ref < np.finfo(np.float64).tiny)
    assert sub.sum() > 1_000
    assert np.abs(out[sub] - ref[sub]).max() <= 5e-324
    rest = ~normal & ~sub
    np.testing.assert_array_equal(out[rest], ref[rest])  # 0 and inf exactly where numpy has them


@pytest.mark.parametrize(
    "x,expected",
    [
        (0.0, 1.0),
        (-0.0, 1.0),
        (1.0, np.e),  # within 1 ulp for finite nonzero results
        (-745.0, 5e-324),
        (-745.2, 0.0),
        (-746.0, 0.0),
        (-1000.0, 0.0),
        (-1e300, 0.0),
        (-np.inf, 0.0),
        (709.78, np.exp(709.78)),
        (709.79, np.inf),
        (745.0, np.inf),
        (1000.0, np.inf),
        (np.inf, np.inf),
        (5e-324, 1.0),
        (-5e-324, 1.0),
    ],
)
def test_exp_special_values(x, expected):
    out = np.empty(1)
    _exp_all(np.array([x]), out)
    if 0.0 < expected < np.inf and expected != 1.0 and expected > 1e-300:
        assert abs(out[0] - expected) <= np.spacing(expected)
    else:
        assert out[0] == expected


def test_exp_and_log1p_propagate_nan():
    out = np.empty(1)
    _exp_all(np.array([np.nan]), out)
    assert np.isnan(out[0])
    _log1p_all(np.array([np.nan]), out)
    assert np.isnan(out[0])


def test_log1p_within_one_ulp_on_the_unit_interval():
    rng = np.random.default_rng(1)
    t = np.concatenate([
        rng.random(200_000),
        np.exp(rng.uniform(-745.0, 0.0, 200_000)),  # what BCE feeds it: exp(-|z|)
        np.nextafter(np.sqrt(2.0) - 1.0, [-1.0, 0.0, 1.0]),  # the range-reduction switch
        [5e-324, 1e-310, np.finfo(np.float64).tiny, 1e-17, 0.5, np.nextafter(1.0, 0.0), 1.0],
    ])
    out = np.empty_like(t)
    _log1p_all(t, out)
    ref = np.log1p(t)
    assert _ulps(out, ref).max() <= 1.0
    _log1p_all(np.zeros(1), out[:1])
    assert out[0] == 0.0


@numba.njit(error_model="numpy")
def _bce8_all(z, y, loss, dz):
    for i in range(0, z.size, 8):
        o = bce8((z[i], z[i + 1], z[i + 2], z[i + 3], z[i + 4], z[i + 5], z[i + 6], z[i + 7]),
                 (y[i], y[i + 1], y[i + 2], y[i + 3], y[i + 4], y[i + 5], y[i + 6], y[i + 7]))
        for u in range(8):
            loss[i + u] = o[u]
            dz[i + u] = o[8 + u]


@numba.njit(error_model="numpy")
def _bce_rows(z, y, loss, dz):
    for i in range(z.size):
        loss[i], dz[i] = pointwise_one(1, z[i], y[i])


def _bce8_cases():
    rng = np.random.default_rng(3)
    switch = -np.log(np.nextafter(np.sqrt(2.0) - 1.0, [-1.0, 0.0, 1.0, 1.0]))
    z = np.concatenate([
        rng.standard_normal(40_000) * 5.0,
        rng.uniform(-800.0, 800.0, 8_000),
        np.linspace(-40.0, 40.0, 8_001)[:-1],
        # e = exp(-|z|) on both sides of log1p's switch at sqrt(2) - 1
        switch,
        -switch,
        [0.0, -0.0, 1e-300, -1e-300, 745.0, -745.0, 1e300, -1e300],
        [np.inf, -np.inf, np.nan, 3.0, -3.0, np.inf, -np.inf, np.nan],
    ])
    y = rng.random(z.size)  # soft targets too: the formula holds for any y in [0, 1]
    y[: z.size // 2] = np.round(y[: z.size // 2])
    return z, y


def test_bce8_is_the_row_form_lane_by_lane():
    z, y = _bce8_cases()
    assert z.size % 8 == 0
    got_l, got_d, ref_l, ref_d = (np.empty_like(z) for _ in range(4))
    _bce8_all(z, y, got_l, got_d)
    _bce_rows(z, y, ref_l, ref_d)
    both_nan = np.isnan(got_l) & np.isnan(ref_l)
    assert np.array_equal(np.isnan(got_l), np.isnan(ref_l))
    assert np.array_equal(np.isnan(got_d), np.isnan(ref_d))
    fin = ~both_nan & np.isfinite(ref_l)
    # the same operations, fused alike up to LLVM's choices: within 2 ulp, lane by lane
    assert np.all(np.abs(got_l[fin] - ref_l[fin]) <= 2 * np.spacing(np.abs(ref_l[fin])))
    np.testing.assert_array_equal(got_l[~fin & ~both_nan], ref_l[~fin & ~both_nan])
    ok = ~np.isnan(ref_d)
    assert np.all(np.abs(got_d[ok] - ref_d[ok]) <= 2 * np.spacing(1.0))


def test_bce8_against_scipy():
    z, y = _bce8_cases()
    loss, dz = np.empty_like(z), np.empty_like(z)
    _bce8_all(z, y, loss, dz)
    fin = np.isfinite(z)
    ref_l = np.logaddexp(0.0, z[fin]) - y[fin] * z[fin]
    ref_d = expit(z[fin]) - y[fin]
    # loss: relative to the size of its terms (logaddexp and y z cancel for large z)
    scale = np.maximum(np.logaddexp(0.0, z[fin]), np.abs(y[fin] * z[fin]))
    assert np.all(np.abs(loss[fin] - ref_l) <= 1e-15 * np.maximum(scale, 1e-300) + 1e-320)
    assert np.max(np.abs(dz[fin] - ref_d)) <= 4.5e-16
    nan = np.isnan(z)
    assert np.all(np.isnan(loss[nan])) and np.all(np.isnan(dz[nan]))
    inf = np.isinf(z)
    np.testing.assert_array_equal(dz[inf], (z[inf] > 0) - y[inf])


def _bce_plain(X, y, w, b, s, reduction):
    return plain_linear_loss_grad(X, y, w, b, loss="bce", sample_weight=s, reduction=reduction)


def _assert_rel(got, ref, tol=1e-12):
    assert abs(got[0] - ref[0]) <= tol * abs(ref[0])
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=tol * np.max(np.abs(ref[1])))
    assert abs(got[2] - ref[2]) <= tol * max(abs(ref[2]), np.max(np.abs(ref[1])))


# m: below one group of 8 rows, not a multiple of 8 (tail rows after the groups), and
# several parallel chunks (4 MiB each: 6007 x 100 x 8 B = 2)
@pytest.mark.parametrize("m,n", [(5, 3), (37, 3), (1003, 3), (299, 100), (6007, 100)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_bce_kernel_matches_plain_formula(m, n, weighted, reduction, scale):
    rng = np.random.default_rng(m + n)
    X = rng.standard_normal((m, n))
    w = rng.standard_normal(n) * scale / np.sqrt(n)  # scale 30: logits up to ~+-100
    y = (rng.random(m) < 0.4) * 1.0
    s = rng.random(m) + 0.1 if weighted else None
    got = linear_loss_grad(X, y, w, 0.3, loss="bce", sample_weight=s, reduction=reduction)
    _assert_rel(got, _bce_plain(X, y, w, 0.3, s, reduction))


@pytest.mark.parametrize("weighted", [False, True])
def test_bce_kernel_with_logits_of_1000(weighted):
    """Rows with |z| up to 1000 (exp underflows, log1p(0)), mixed with ordinary rows."""
    rng = np.random.default_rng(5)
    m = 1001
    X = np.ones((m, 2))
    X[:, 0] = np.concatenate([rng.uniform(-1000.0, 1000.0, 500), rng.uniform(-5.0, 5.0, 501)])
    w = np.array([1.0, 0.0])
    y = (rng.random(m) < 0.5) * 1.0
    s = rng.random(m) + 0.5 if weighted else None
    got = linear_loss_grad(X, y, w, 0.0, loss="bce", sample_weight=s, reduction="sum")
    assert np.isfinite(got[0]) and np.isfinite(got[1]).all() and np.isfinite(got[2])
    _assert_rel(got, _bce_plain(X, y, w, 0.0, s, "sum"))
    # by hand: loss = sum logaddexp(0, z) - y z, gradient = X^T (sigmoid(z) - y)
    z = X @ w
    sw = np.ones(m) if s is None else s
    assert got[0] == pytest.approx(np.sum(sw * (np.logaddexp(0.0, z) - y * z)), rel=1e-13)
    np.testing.assert_allclose(got[1], X.T @ (sw * (expit(z) - y)), rtol=1e-13)


def test_kernel_partial_sums_directly():
    """linear_c_nb's rows: gradient over w, over b, and the loss of each chunk's rows."""
    rng = np.random.default_rng(9)
    m, n, nchunks = 203, 4, 3
    X = rng.standard_normal((m, n))
    y = (rng.random(m) < 0.5) * 1.0
    w = rng.standard_normal(n)
    P = linear_c_nb(X, y, w, -0.2, np.empty(0), 1, nchunks)
    assert P.shape == (nchunks, n + 2)
    for c in range(nchunks):
        rows = slice(c * m // nchunks, (c + 1) * m // nchunks)
        z = X[rows] @ w - 0.2
        d = expit(z) - y[rows]
        np.testing.assert_allclose(P[c, :n], X[rows].T @ d, rtol=1e-13, atol=1e-13)
        assert P[c, n] == pytest.approx(d.sum(), rel=1e-12, abs=1e-13)
        assert P[c, n + 1] == pytest.approx(np.sum(np.logaddexp(0.0, z) - y[rows] * z),
                                            rel=1e-13)


@pytest.mark.parametrize("head", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_streams_cover_every_row_once(head, weighted):
    """Each chunk is read as eight interleaved streams (row q of each eighth) plus a tail of
    < 8 rows: for every chunk length from 0 to 40 rows (and 8k + r), every row counts once.
    A row counted twice or skipped moves the partial sums far beyond 1e-13."""
    rng = np.random.default_rng(11)
    n = 5
    for m in [*range(0, 41), 803, 1027]:
        X = rng.standard_normal((m, n))
        y = (rng.random(m) < 0.5) * 1.0 if head else rng.standard_normal(m)
        s = rng.random(m) + 0.5 if weighted else np.empty(0)
        w = rng.standard_normal(n)
        nchunks = max(1, min(m, 3))
        P = linear_c_nb(X, y, w, 0.3, s, head, nchunks)
        assert_chunk_sums(P, X, y, w, 0.3, s, head, 1e-12, msg=f"m={m}")


def test_nan_logit_propagates():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3))
    X[17, 1] = np.nan
    y = (rng.random(50) < 0.5) * 1.0
    value, g, gb = linear_loss_grad(X, y, np.ones(3), 0.0, loss="bce")
    assert np.isnan(value) and np.isnan(g).all() and np.isnan(gb)


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("n", [3, 20, 100])
def test_kernel_float32_input(loss, n):
    """float32 rows: widened to float64 as loaded (n <= 32), or summed in float32 per row /
    per eight rows and float64 across rows (wider X): within a few float32 roundings of the
    float64 formula."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3001, n)).astype(np.float32)
    y = (rng.random(3001) < 0.5) * 1.0
    w = rng.standard_normal(n) * 2.0 / np.sqrt(n)
    got = linear_loss_grad(X, y, w, 0.1, loss=loss)
    ref = plain_linear_loss_grad(X.astype(np.float64), y, w, 0.1, loss=loss)
    assert got[1].dtype == np.float32
    _assert_rel(got, ref, tol=1e-6)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_narrow_kernel_every_width(order, dtype):
    """n = 1..34 covers the narrow group steps (_linear_small_nb): in C order one to four
    8-column vectors per row, each with a full and a partial (masked) last vector; in F
    order one vector per column. And the wide kernels just past them. Per chunk, both
    heads, weighted or not, against the plain formula: 1e-12 in float64; float32 X is
    widened as loaded, so its narrow sums are float64-exact too."""
    rng = np.random.default_rng(12)
    m, nchunks = 203, 3  # 3 chunks of 67-68 rows: 8 groups and a tail of 3-4 rows each
    tol = 1e-12 if dtype == np.float64 else 1e-6  # n > 32 sums float32 X in float32
    for n in range(1, 35):
        X = rng.standard_normal((m, n)).astype(dtype, order=order)
        kernel, data = (linear_c_nb, X) if order == "C" else (linear_f_nb, X.T)
        X64 = X.astype(np.float64)
        w = rng.standard_normal(n) * 2.0 / np.sqrt(n)
        for head in (0, 1):
            y = (rng.random(m) < 0.5) * 1.0 if head else rng.standard_normal(m)
            for s in (np.empty(0), rng.random(m) + 0.5):
                P = kernel(data, y, w, -0.4, s, head, nchunks)
                assert_chunk_sums(P, X64, y, w, -0.4, s, head, tol, msg=f"n={n}")


_GUARD_PAGE = """
import ctypes, mmap, sys
import numpy as np
from gdlab.engines.kernels._linear_nb import linear_c_nb

page = mmap.PAGESIZE
buf = mmap.mmap(-1, 2 * page)
n, m = {n}, {m}
X = np.frombuffer(buf, dtype=np.{dtype}, count=m * n,
                  offset=page - m * n * np.dtype(np.{dtype}).itemsize).reshape(m, n)
X[:] = np.arange(m * n).reshape(m, n) % 7 - 3.0
libc = ctypes.CDLL(None)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf)) + page
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(addr, page, 0) == 0  # the page after X's last row: no access
w = np.linspace(-1.0, 1.0, n)
y = np.arange(m) % 2 * 1.0
P = linear_c_nb(X, y, w, 0.5, np.empty(0), 1, 1)[0]
z = X.astype(np.float64) @ w + 0.5
d = 1.0 / (1.0 + np.exp(-z)) - y
ref = X.astype(np.float64).T @ d
assert np.allclose(P[:n], ref, rtol=1e-12, atol=1e-12), (P[:n], ref)
print("ok")
"""


@pytest.mark.parametrize("n,dtype", [(10, "float64"), (3, "float32"), (25, "float64")])
def test_narrow_kernel_reads_nothing_past_x(n, dtype):
    """The last vector of each row is loaded under a mask: X ends exactly at a page with
    no access (mprotect), its last row inside a group (m a multiple of 8); an unmasked
    load of the last row would read into that page and crash the subprocess."""
    import subprocess
    import sys

    m = 8 * (4096 // (8 * n * np.dtype(dtype).itemsize))
    code = _GUARD_PAGE.format(n=n, m=m, dtype=dtype)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_kernel_cache_is_stamped_with_every_compiled_module(tmp_path, monkeypatch):
    """numba stamps a cached function with its own file only; gdlab's locator adds a digest
    of every module holding compiled code, because the kernels inline code from their
    siblings. Editing any of them must change a kernel's stamp (numba then recompiles)."""
    import os
    from pathlib import Path

    import gdlab
    from gdlab.engines.kernels import _linear_nb, _numba

    package = Path(gdlab.__file__).parent
    compiled = {str(p.relative_to(package)) for p in package.rglob("*.py")
                if "cache=True" in p.read_text()}
    assert compiled <= set(_numba.COMPILED_SOURCES)
    locator = _linear_nb._narrow_nb._cache._impl._locator
    assert isinstance(locator, _numba._KernelCacheLocator)
    assert locator.get_source_stamp()[1] == _numba.sources_stamp()
    # a stand-in package: the stamp follows each module's bytes
    for name in _numba.COMPILED_SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# v1\n")
    monkeypatch.setattr(_numba, "_PACKAGE", tmp_path)
    before = locator.get_source_stamp()
    assert locator.get_source_stamp() == before
    helper = tmp_path / "engines" / "kernels" / "_pointwise_nb.py"
    helper.write_text("# v2\n")  # same size; a later mtime, as an edit or a pull gives
    os.utime(helper, (helper.stat().st_mtime + 10, helper.stat().st_mtime + 10))
    assert locator.get_source_stamp() != before
    # functions outside gdlab keep numba's own locators
    assert _numba._KernelCacheLocator.from_function(test_nan_logit_propagates, __file__) is None
