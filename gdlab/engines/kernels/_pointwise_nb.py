"""Point-wise loss code for the compiled kernels: exp, log1p, and the BCE of a row.

The reference steps are :func:`gdlab.core.pointwise.mse_point` and
:func:`~gdlab.core.pointwise.bce_point`. MSE is compiled from that very function (registered
in :mod:`gdlab.engines.kernels._formulas_nb`). BCE is not: the reference's ``np.exp`` and
``np.log1p`` run scalar here, so :func:`_bce_row` (and :func:`bce8`, eight rows at a time)
computes the same step through the polynomials below; ``tests/test_pointwise.py`` holds both
within 2 ulp of ``bce_point`` (the loss relative to the size of its terms).

Numba has no vector math library here (no SVML), and a scalar ``np.exp`` costs ~10 ns, so
:func:`exp_nb` and :func:`log1p_unit_nb` are written out as branch-free polynomials that LLVM
vectorises across the rows of a loop (:func:`pointwise_block`, ~2 ns each).

:func:`bce8` is the same sigmoid + BCE step for the eight rows of one group, emitted directly
as LLVM vector IR (``<8 x double>``): the single-pass kernels compute it between one group's
logits and its gradient, while the group's rows are in L1. Written as scalar numba code, those
eight rows ran scalar (~30 ns a row: a loop of eight iterations is too short for LLVM's loop
vectoriser, and the chain too deep for its SLP vectoriser); as one vector chain they cost
~60 vector instructions for all eight. Its arithmetic is :func:`_bce_row`'s, with the
multiply-adds fused explicitly and exp's polynomial evaluated in Estrin's scheme (shorter
latency); tests hold it within 2 ulp of the scalar form.

Only imported when numba is present.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from gdlab.engines.kernels._formulas_nb import mse_point
from gdlab.engines.kernels._numba import f64_from_bits, njit

__all__ = ["bce8", "exp_nb", "log1p_unit_nb", "point8", "pointwise_block", "pointwise_one",
           "weigh8"]

# Point-wise code: only 'contract' (fused multiply-adds, never less accurate); no 'reassoc',
# which would undo the two-part ln 2 reduction below. error_model="numpy": a float division
# by zero gives inf instead of a Python exception, whose test per element blocks
# vectorisation. The point-wise helpers are inlined by numba (inline="always": LLVM's own
# inliner gave up on exp + log1p in one loop, which then ran scalar, 10x slower); inlined code
# takes the caller's flags, so they are called only from functions compiled with _PT. The one
# exception is point8, inlined into the kernels' 'reassoc' group loops: its MSE arithmetic has
# nothing to reorder, and bce8's instructions are emitted without fast-math flags.
_PT = {"contract"}

_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2^11 (fdlibm's constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT2_M1 = 0.41421356237309503
# fdlibm's log kernel: log(1 + f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716; error < 1 ulp
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01

@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def exp_nb(x):
    """exp(x) within 1 ulp (normal results), correctly flushed to 0, subnormal or inf.

    Branch-free, so a loop of calls vectorises. x = k ln2 + r with k = round(x / ln2) and
    |r| <= ln2 / 2 (Cody-Waite, two-part ln2); exp(r) by its Taylor series to degree 13
    (truncation < 1e-17); 2^k as two normal powers of two built from their bits, so that
    results below 2^-1022 round once into the subnormals. x is clamped to [-746, 710]
    (exp(-746) rounds to 0, exp(710) overflows to inf); NaN gives NaN.
    """
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    kf = np.floor(xc * _LOG2E + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    t = 1.0 / 6227020800.0
    t = t * r + 1.0 / 479001600.0
    t = t * r + 1.0 / 39916800.0
    t = t * r + 1.0 / 3628800.0
    t = t * r + 1.0 / 362880.0
    t = t * r + 1.0 / 40320.0
    t = t * r + 1.0 / 5040.0
    t = t * r + 1.0 / 720.0
    t = t * r + 1.0 / 120.0
    t = t * r + 1.0 / 24.0
    t = t * r + 1.0 / 6.0
    t = t * r + 0.5
    p = 1.0 + (r + (r * r) * t)  # the 1 added last: no rounding error of its own
    k = np.int64(kf)  # in [-1076, 1024]: each half within the normal exponents
    k1 = k >> 1
    k2 = k - k1
    e = (p * f64_from_bits((k1 + 1023) << 52)) * f64_from_bits((k2 + 1023) << 52)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter
    return e if x == x else x


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _log1p_reduce(t):
    """For t in [0, 1]: (f, k) with 1 + t = 2^k (1 + f), k in {0, 1}, 1 + f in [0.7, 1.42]."""
    if t >= _SQRT2_M1:
        return (t - 1.0) * 0.5, 1.0
    return t, 0.0  # f = t exactly: no rounding of 1 + t, so tiny t keep full accuracy


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _log1p_finish(f, k, s):
    """k ln2 + log(1 + f), given s = f / (2 + f) (fdlibm's __ieee754_log kernel)."""
    hfsq = 0.5 * f * f
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    R = t2 + t1
    return k * _LN2_HI - ((hfsq - (s * (hfsq + R) + k * _LN2_LO)) - f)


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def log1p_unit_nb(t):
    """log1p(t) for t in [0, 1] within 1 ulp, branch-free (vectorises); NaN gives NaN."""
    f, k = _log1p_reduce(t)
    return _log1p_finish(f, k, f / (2.0 + f))


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _bce_row(z, yi):
    """BCE of one row and dl/dz: logaddexp(0, z) - y z and sigmoid(z) - y, as
    :func:`gdlab.core.pointwise.bce_point` (within 2 ulp: ``tests/test_pointwise.py``).

    With e = exp(-|z|) in [0, 1]: logaddexp(0, z) = max(z, 0) + log1p(e), sigmoid(z) =
    1 / (1 + e) for z >= 0 and e / (1 + e) otherwise; finite for |z| ~ 1000. The two
    divisions (1 / (1 + e) and log1p's f / (2 + f)) share one reciprocal (a few ulp).
    """
    e = exp_nb(-abs(z))
    f, k = _log1p_reduce(e)
    u = 1.0 + e
    v = 2.0 + f
    rec = 1.0 / (u * v)
    q = v * rec
    sig = q if z >= 0.0 else e * q
    zp = z if z > 0.0 else 0.0
    return (zp - yi * z) + _log1p_finish(f, k, (f * u) * rec), sig - yi


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _pointwise_row(head, z, yi):
    """Per-sample loss and dl/dz: identity + MSE (head 0) or sigmoid + BCE (head 1)."""
    if head == 0:
        return mse_point(z, yi)
    return _bce_row(z, yi)


@njit(cache=True, error_model="numpy", fastmath=_PT)
def pointwise_one(head, z, yi):
    """:func:`_pointwise_row` behind a call, for the kernels: keeps the _PT flags."""
    return _pointwise_row(head, z, yi)


@njit(cache=True, error_model="numpy", fastmath=_PT)
def pointwise_block(head, zb, y, s, i, nb, db, lb):
    """Loss (lb) and dl/dz (db) of rows i..i+nb from their logits zb[:nb], weighted by s.

    One loop per case, each free of branches and calls after inlining: LLVM vectorises it.
    """
    if head == 0:
        if s.size > 0:
            for k in range(nb):
                lk, dk = mse_point(zb[k], y[i + k])
                lb[k] = s[i + k] * lk
                db[k] = s[i + k] * dk
        else:
            for k in range(nb):
                lb[k], db[k] = mse_point(zb[k], y[i + k])
    elif s.size > 0:
        for k in range(nb):
            lk, dk = _bce_row(zb[k], y[i + k])
            lb[k] = s[i + k] * lk
            db[k] = s[i + k] * dk
    else:
        for k in range(nb):
            lk, dk = _bce_row(zb[k], y[i + k])
            lb[k] = lk
            db[k] = dk


# ---- the same step on eight lanes, as LLVM vector IR -------------------------------------

_LANES = 8
_F64 = ir.DoubleType()
_VF64 = ir.VectorType(_F64, _LANES)
_VI64 = ir.VectorType(ir.IntType(64), _LANES)
# exp's Taylor coefficients 1/13!, ..., 1/2! (as in exp_nb; bce8 evaluates them in Estrin's scheme)
_EXP_COEFFS = (1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
               1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
               1.0 / 24.0, 1.0 / 6.0, 0.5)


class _Lanes:
    """Emits <8 x double> arithmetic with an llvmlite builder (fma/floor/fabs as intrinsics)."""

    def __init__(self, builder: ir.IRBuilder) -> None:
        self.b = builder
        mod = builder.module
        f3 = ir.FunctionType(_VF64, [_VF64, _VF64, _VF64])
        f1 = ir.FunctionType(_VF64, [_VF64])
        self._fma = cgutils.get_or_insert_function(mod, f3, "llvm.fma.v8f64")
        self._floor = cgutils.get_or_insert_function(mod, f1, "llvm.floor.v8f64")
        self._fabs = cgutils.get_or_insert_function(mod, f1, "llvm.fabs.v8f64")

    @staticmethod
    def c(value: float) -> ir.Constant:
        return ir.Constant(_VF64, [float(value)] * _LANES)

    def fma(self, a, b, c):
        """a * b + c, rounded once."""
        return self.b.call(self._fma, [a, b, c])

    def sel(self, op, a, b, x, y):
        """x where ``a op b`` (ordered: false for NaN), else y."""
        return self.b.select(self.b.fcmp_ordered(op, a, b), x, y)

    def pow2(self, k):
        """2^k for int64 lanes k in the normal exponent range, built from its bits."""
        bits = self.b.shl(self.b.add(k, ir.Constant(_VI64, [1023] * _LANES)),
                          ir.Constant(_VI64, [52] * _LANES))
        return self.b.bitcast(bits, _VF64)

    def exp(self, x):
        """:func:`exp_nb` on eight lanes (the same reduction, polynomial and scaling)."""
        b, c = self.b, self.c
        xc = self.sel(">", x, c(-746.0), x, c(-746.0))
        xc = self.sel("<", xc, c(710.0), xc, c(710.0))
        kf = b.call(self._floor, [self.fma(xc, c(_LOG2E), c(0.5))])
        r = b.fsub(self.fma(b.fneg(kf), c(_LN2_HI), xc), b.fmul(kf, c(_LN2_LO)))
        # t(r) = sum of r^i / (i + 2)! for i < 12 in Estrin's scheme: depth 4 instead of
        # Horner's 12 (one group's chain is latency-bound; at n = 10 the kernel ran 0.85-0.9x)
        cs = _EXP_COEFFS[::-1]  # 1/2!, 1/3!, ..., 1/13!
        pairs = [self.fma(c(cs[2 * i + 1]), r, c(cs[2 * i])) for i in range(6)]
        r2 = b.fmul(r, r)
        quads = [self.fma(pairs[2 * i + 1], r2, pairs[2 * i]) for i in range(3)]
        r4 = b.fmul(r2, r2)
        t = self.fma(quads[2], b.fmul(r4, r4), self.fma(quads[1], r4, quads[0]))
        p = b.fadd(c(1.0), self.fma(b.fmul(r, r), t, r))
        k = b.fptosi(kf, _VI64)
        k1 = b.ashr(k, ir.Constant(_VI64, [1] * _LANES))
        e = b.fmul(b.fmul(p, self.pow2(k1)), self.pow2(b.sub(k, k1)))
        return b.select(b.fcmp_unordered("uno", x, x), x, e)

    def bce(self, z, y):
        """:func:`_bce_row` on eight lanes: (loss, dl/dz)."""
        b, c = self.b, self.c
        e = self.exp(b.fneg(b.call(self._fabs, [z])))
        # _log1p_reduce: 1 + e = 2^k (1 + f)
        big = b.fcmp_ordered(">=", e, c(_SQRT2_M1))
        f = b.select(big, b.fmul(b.fsub(e, c(1.0)), c(0.5)), e)
        k = b.select(big, c(1.0), c(0.0))
        u = b.fadd(c(1.0), e)
        v = b.fadd(c(2.0), f)
        rec = b.fdiv(c(1.0), b.fmul(u, v))
        q = b.fmul(v, rec)
        sig = self.sel(">=", z, c(0.0), q, b.fmul(e, q))
        zp = self.sel(">", z, c(0.0), z, c(0.0))
        # _log1p_finish with s = f / (2 + f)
        s = b.fmul(b.fmul(f, u), rec)
        hfsq = b.fmul(b.fmul(c(0.5), f), f)
        zz = b.fmul(s, s)
        w = b.fmul(zz, zz)
        t1 = b.fmul(w, self.fma(w, self.fma(w, c(_LG6), c(_LG4)), c(_LG2)))
        t2 = b.fmul(zz, self.fma(w, self.fma(w, self.fma(w, c(_LG7), c(_LG5)), c(_LG3)),
                                 c(_LG1)))
        R = b.fadd(t2, t1)
        inner = b.fsub(b.fsub(hfsq, self.fma(s, b.fadd(hfsq, R), b.fmul(k, c(_LN2_LO)))), f)
        log1p_e = self.fma(k, c(_LN2_HI), b.fneg(inner))
        loss = b.fadd(self.fma(b.fneg(y), z, zp), log1p_e)
        return loss, b.fsub(sig, y)


@intrinsic
def bce8(typingctx, z, y):
    """Sigmoid + BCE of eight rows: ``bce8(z, y)`` with z, y tuples of eight float64.

    Returns a tuple of sixteen float64: the eight losses ``logaddexp(0, z) - y z``, then the
    eight ``sigmoid(z) - y``; lane by lane :func:`_bce_row` (within 2 ulp). The values are
    packed into one ``<8 x double>`` each and the whole step is a single vector chain.
    """
    eight = types.UniTuple(types.float64, _LANES)
    if z != eight or y != eight:
        return None
    sig = types.UniTuple(types.float64, 2 * _LANES)(eight, eight)

    def codegen(context, builder, signature, args):
        def pack(tup):
            vec = ir.Constant(_VF64, ir.Undefined)
            for i in range(_LANES):
                vec = builder.insert_element(vec, builder.extract_value(tup, i),
                                             ir.Constant(ir.IntType(32), i))
            return vec

        loss, dz = _Lanes(builder).bce(pack(args[0]), pack(args[1]))
        out = ir.Constant(context.get_value_type(signature.return_type), ir.Undefined)
        for i in range(_LANES):
            lane = ir.Constant(ir.IntType(32), i)
            out = builder.insert_value(out, builder.extract_element(loss, lane), i)
            out = builder.insert_value(out, builder.extract_element(dz, lane), _LANES + i)
        return out

    return sig, codegen


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def _mse8(z, y):
    """Identity + MSE of eight rows (:func:`~gdlab.core.pointwise.mse_point` lane by lane), in
    :func:`bce8`'s layout: (the eight losses, the eight dl/dz)."""
    l0, d0 = mse_point(z[0], y[0])
    l1, d1 = mse_point(z[1], y[1])
    l2, d2 = mse_point(z[2], y[2])
    l3, d3 = mse_point(z[3], y[3])
    l4, d4 = mse_point(z[4], y[4])
    l5, d5 = mse_point(z[5], y[5])
    l6, d6 = mse_point(z[6], y[6])
    l7, d7 = mse_point(z[7], y[7])
    return (l0, l1, l2, l3, l4, l5, l6, l7, d0, d1, d2, d3, d4, d5, d6, d7)


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def point8(head, z, y):
    """Per-row loss and dl/dz of eight rows (tuples z, y): identity + MSE (head 0) or
    sigmoid + BCE (head 1). Returns sixteen float64: the eight losses, then the eight dl/dz.
    """
    if head == 0:
        return _mse8(z, y)
    return bce8(z, y)  # type: ignore[call-arg]  # numba's @intrinsic stub keeps typingctx as the first parameter


@njit(cache=True, error_model="numpy", fastmath=_PT, inline="always")
def weigh8(o, w):
    """:func:`point8`'s sixteen values with row u's loss and dl/dz times the weight w[u]."""
    return (w[0] * o[0], w[1] * o[1], w[2] * o[2], w[3] * o[3], w[4] * o[4], w[5] * o[5],
            w[6] * o[6], w[7] * o[7], w[0] * o[8], w[1] * o[9], w[2] * o[10], w[3] * o[11],
            w[4] * o[12], w[5] * o[13], w[6] * o[14], w[7] * o[15])
