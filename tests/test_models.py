"""Models: finite-difference gradient checks for every model x loss, loop twins, layouts,
float32, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.core.gradcheck import check_gradient, check_model_gradient
from gdlab.core.models import GLM, LinearModel, LogisticModel, SoftmaxModel
from gdlab.teach.loops import linear_loss_grad_loop, logistic_loss_grad_loop, softmax_loss_grad_loop

M, N, K = 13, 4, 3


def _problem(kind: str, rng: np.random.Generator, loss: str = "cce"):
    X = rng.normal(size=(M, N))
    if kind == "linear":
        return LinearModel(n_features=N), X, rng.normal(size=M)
    if kind == "linear_multi":
        return LinearModel(n_features=N, n_outputs=2), X, rng.normal(size=(M, 2))
    if kind == "logistic":
        return LogisticModel(n_features=N), X, rng.integers(0, 2, M)
    return SoftmaxModel(n_features=N, n_outputs=K, loss=loss), X, rng.integers(0, K, M)


CASES = [("linear", "mse"), ("linear_multi", "mse"), ("logistic", "bce"),
         ("softmax", "cce"), ("softmax", "mse"), ("softmax", "bce")]


@pytest.mark.parametrize(("kind", "loss"), CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_gradient_check_every_model_and_loss(kind: str, loss: str, reduction: str, alpha: float,
                                             rng: np.random.Generator) -> None:
    model, X, y = _problem(kind, rng, loss)
    theta = model.init(rng, scale=1.0)
    w = rng.uniform(0.5, 2.0, size=M)
    res = check_model_gradient(model, theta, X, y, reduction=reduction, alpha=alpha,
                               sample_weight=w)
    assert res.rel_error < 1e-6, (kind, loss, res.rel_error)


def test_gradient_check_catches_a_wrong_gradient(rng: np.random.Generator) -> None:
    model, X, y = _problem("logistic", rng)

    def wrong(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = model.loss_and_grad(theta, X, y)
        return loss, grad * 1.01

    assert not check_gradient(wrong, model.init(0, scale=1.0)).passed


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loop_twins_agree_with_vectorized(reduction: str, rng: np.random.Generator) -> None:
    X = rng.normal(size=(40, 5))
    for model, y, loop in [
        (LinearModel(n_features=5), rng.normal(size=40), linear_loss_grad_loop),
        (LogisticModel(n_features=5), rng.integers(0, 2, 40), logistic_loss_grad_loop),
    ]:
        theta = model.init(rng, scale=1.0)
        loss, grad = model.loss_and_grad(theta, X, y, reduction=reduction)
        loss_l, grad_l = loop(X.tolist(), y.tolist(), theta.tolist(), reduction)
        assert loss_l == pytest.approx(loss, rel=1e-12)
        np.testing.assert_allclose(grad_l, grad, rtol=1e-12, atol=1e-14)
    model = SoftmaxModel(n_features=5, n_outputs=4)
    theta = model.init(rng, scale=1.0)
    y = rng.integers(0, 4, 40)
    loss, grad = model.loss_and_grad(theta, X, y, reduction=reduction)
    loss_l, grad_l = softmax_loss_grad_loop(X, y, theta, 4, reduction)
    assert loss_l == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_l, grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("kind", "loss"), CASES)
def test_rows_and_columns_layouts_give_identical_numbers(kind: str, loss: str,
                                                         rng: np.random.Generator) -> None:
    rows, X, y = _problem(kind, rng, loss)
    cols = GLM(n_features=rows.n_features, n_outputs=rows.n_outputs, loss=rows.loss,
               layout="columns")
    theta = rows.init(rng, scale=1.0)
    Xc = np.ascontiguousarray(X.T)
    yc = y.T if y.ndim == 2 else y
    l_r, g_r = rows.loss_and_grad(theta, X, y)
    l_c, g_c = cols.loss_and_grad(theta, Xc, yc)
    assert l_c == pytest.approx(l_r, rel=1e-14)
    np.testing.assert_allclose(g_c, g_r, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(cols.forward(theta, Xc).T, rows.forward(theta, X), rtol=1e-14)


def test_l4_column_formulas(rng: np.random.Generator) -> None:
    """Lesson L4 literally: Z = w^T X + b, dZ = A - Y, dw = X dZ^T / m, db = mean(dZ)."""
    X = rng.normal(size=(3, 8))  # features x samples
    Y = rng.integers(0, 2, size=(1, 8)).astype(float)
    w, b = rng.normal(size=(3, 1)), 0.4
    A = 1 / (1 + np.exp(-(w.T @ X + b)))
    dZ = A - Y
    model = LogisticModel(n_features=3, layout="columns")
    _, grad = model.loss_and_grad(model.pack(w, b), X, Y)
    np.testing.assert_allclose(grad[:3], (X @ dZ.T / 8).ravel(), rtol=1e-13)
    assert grad[3] == pytest.approx(dZ.mean(), rel=1e-13)


def test_float32_is_kept(rng: np.random.Generator) -> None:
    model = SoftmaxModel(n_features=N, n_outputs=K)
    X = rng.normal(size=(M, N)).astype(np.float32)
    theta = model.init(0, scale=1.0, dtype=np.float32)
    loss, grad = model.loss_and_grad(theta, X, rng.integers(0, K, M))
    assert grad.dtype == np.float32 and np.isfinite(loss)


def test_init_is_seeded() -> None:
    a = SoftmaxModel(n_features=3, n_outputs=4).init(7)
    b = SoftmaxModel(n_features=3, n_outputs=4).init(np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16,)
    W, bias = SoftmaxModel(n_features=3, n_outputs=4).unpack(a)
    assert W.shape == (3, 4) and bias.shape == (4,) and not bias.any()


class TestBadInput:
    def test_mismatched_lengths(self) -> None:
        model = LinearModel(n_features=2)
        with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[5, 4\]"):
            model.loss_and_grad(model.init(), np.zeros((5, 2)), np.zeros(4))

    def test_wrong_feature_count(self) -> None:
        model = LinearModel(n_features=3)
        with pytest.raises(ValueError, match=r"X has 2 features .*shape \(5, 2\).*expecting 3"):
            model.check_X(np.zeros((5, 2)))

    @pytest.mark.parametrize(("bad", "word"), [(np.nan, "NaN"), (np.inf, "infinity")])
    def test_nan_and_inf(self, bad: float, word: str) -> None:
        X = np.zeros((4, 2))
        X[2, 1] = bad
        with pytest.raises(ValueError, match=rf"Input X contains {word} \(first at index \[2, 1\]"):
            LinearModel(n_features=2).check_X(X)
        y = np.zeros(4)
        y[0] = bad
        with pytest.raises(ValueError, match=f"Input y contains {word}"):
            LinearModel(n_features=2).loss_and_grad(np.zeros(3), np.zeros((4, 2)), y)

    def test_empty(self) -> None:
        with pytest.raises(ValueError, match=r"Input X is empty \(shape \(0, 2\)\)"):
            LinearModel(n_features=2).check_X(np.zeros((0, 2)))

    def test_one_d_X(self) -> None:
        with pytest.raises(ValueError, match=r"Expected 2-D array for X, got 1-D.*reshape\(-1, 1\)"):
            LinearModel(n_features=1).check_X(np.zeros(5))

    def test_logistic_labels_outside_0_1(self) -> None:
        model = LogisticModel(n_features=2)
        with pytest.raises(ValueError, match=r"only 0 and 1, got values \[0, 1, 2\]"):
            model.loss_and_grad(model.init(), np.zeros((3, 2)), np.array([0, 1, 2]))

    def test_softmax_needs_two_classes(self) -> None:
        with pytest.raises(ValueError, match="at least 2 classes.*got 1"):
            SoftmaxModel(n_features=2, n_outputs=1)

    def test_softmax_label_out_of_range(self) -> None:
        model = SoftmaxModel(n_features=2, n_outputs=3)
        with pytest.raises(ValueError, match=r"class indices 0..2, got values from 0 to 5"):
            model.loss_and_grad(model.init(), np.zeros((2, 2)), np.array([0, 5]))

    def test_theta_shape(self) -> None:
        with pytest.raises(ValueError, match=r"theta must have shape \(3\), got shape \(4,\)"):
            LinearModel(n_features=2).unpack(np.zeros(4))

    def test_bad_hyperparameters(self) -> None:
        with pytest.raises(ValueError, match="'n_features' parameter of LinearModel must be an int"):
            LinearModel(n_features=0)
        with pytest.raises(ValueError, match="'layout' parameter of GLM must be one of"):
            GLM(n_features=2, layout="diagonal")
        with pytest.raises(ValueError, match="'loss' parameter of SoftmaxModel"):
            SoftmaxModel(n_features=2, n_outputs=3, loss="hinge")


@pytest.mark.parametrize(("kind", "loss"), [("linear", "mse"), ("logistic", "bce"),
                                            ("softmax", "cce")])
@pytest.mark.numba
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n", [50, 10])
def test_large_problems_use_the_fused_kernel_with_equal_results(kind: str, loss: str, order: str,
                                                                 n: int,
                                                                 rng: np.random.Generator,
                                                                 monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Just above the dispatch threshold (kernels.fused_min_size) the compiled engine takes the
    fused kernel and equals the model's NumPy formula; with the thresholds out of reach it
    declines and the model's formula runs."""
    from gdlab.core.loop import ModelProblem
    from gdlab.engines import kernels

    threshold = kernels.fused_min_size({"softmax": "cce"}.get(kind, "mse"),
                                       np.empty((1, n), order=order))
    m = threshold // n + 17
    X = np.asarray(rng.normal(size=(m, n)), order=order)
    model = {"linear": LinearModel(n_features=n), "logistic": LogisticModel(n_features=n),
             "softmax": SoftmaxModel(n_features=n, n_outputs=4)}[kind]
    y = {"linear": rng.normal(size=m), "logistic": rng.integers(0, 2, m),
         "softmax": rng.integers(0, 4, m)}[kind]
    theta = model.init(rng, scale=0.5)
    w = rng.uniform(0.5, 2, m)
    calls = []
    real = kernels.loss_grad
    monkeypatch.setattr(kernels, "loss_grad", lambda *a, **k: calls.append(1) or real(*a, **k))
    problem = ModelProblem.from_arrays(model, X, y, w, 0.1, engine="compiled")
    fused = problem.loss_and_grad(theta, None)
    assert calls, "the fused kernel was not used"
    plain = model.loss_and_grad(theta, X, y, sample_weight=w, alpha=0.1)
    monkeypatch.setattr(kernels, "FUSED_MIN_SIZE", 10**12)
    monkeypatch.setattr(kernels, "FUSED_MIN_SIZE_NARROW", 10**12)
    monkeypatch.setattr(kernels, "FUSED_MIN_SIZE_SOFTMAX", 10**12)
    calls.clear()
    assert problem.loss_and_grad(theta, None)[0] == pytest.approx(plain[0], rel=1e-15)
    assert not calls
    assert fused[0] == pytest.approx(plain[0], rel=1e-12)
    np.testing.assert_allclose(fused[1], plain[1], rtol=1e-11, atol=1e-14)
