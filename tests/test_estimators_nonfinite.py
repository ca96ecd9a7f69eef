"""NaN / inf in X is reported as scikit-learn's input error, even though fit checks it lazily.

``fit`` skips scikit-learn's up-front pass over X for non-finite values: the first epoch reads
every row, so a NaN or inf makes a loss or gradient non-finite and the resulting
DivergenceError is turned into "Input X contains NaN/infinity". These cases use X above the
fused-kernel threshold (40,000 x 80 = 3.2e6 entries) so the compiled passes (C and Fortran
order, full batch and compiled mini-batch epochs) are the ones that must propagate NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import LinearRegression, LogisticRegression, SoftmaxRegression
from gdlab.core.loop import DivergenceError

M, N = 40_000, 80


def _y(est_cls, rng):
    if est_cls is LinearRegression:
        return rng.standard_normal(M)
    if est_cls is LogisticRegression:
        return (rng.random(M) < 0.5).astype(int)
    return rng.integers(0, 3, M)


@pytest.mark.parametrize("est_cls", [LinearRegression, LogisticRegression, SoftmaxRegression])
@pytest.mark.parametrize("batch_size", [None, 256])
@pytest.mark.parametrize("bad,match", [(np.nan, "contains NaN"), (np.inf, "infinity"),
                                       (-np.inf, "infinity")])
@pytest.mark.parametrize("order", ["C", "F"])
def test_nonfinite_X_is_an_input_error(est_cls, batch_size, bad, match, order):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((M, N))
    X[M - 3, N // 2] = bad  # in the last batch: found only when the whole epoch has run
    X = np.asarray(X, order=order)
    with pytest.raises(ValueError, match=match) as info:
        est_cls(batch_size=batch_size, epochs=3).fit(X, _y(est_cls, rng))
    assert not isinstance(info.value, DivergenceError)


@pytest.mark.parametrize("kw", [{"early_stopping": True}, {"precompute": True}])
def test_nonfinite_X_with_early_stopping_or_gram(kw):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((M, N))
    X[5, 5] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        LinearRegression(epochs=3, **kw).fit(X, rng.standard_normal(M))


def test_nonfinite_row_with_zero_weight_is_still_an_error():
    """A batch of zero-weight rows is skipped by the compiled epoch, so weights with zeros
    make fit check X up front."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((M, N))
    X[:256, 0] = np.inf
    w = np.ones(M)
    w[:256] = 0.0
    est = LinearRegression(batch_size=256, shuffle=False, epochs=2)
    with pytest.raises(ValueError, match="infinity"):
        est.fit(X, rng.standard_normal(M), sample_weight=w)
    X[:256, 0] = 0.0
    est.fit(X, rng.standard_normal(M), sample_weight=w)  # finite X with zero weights: fine
