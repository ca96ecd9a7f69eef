"""The MLP model: gradient checks for every activation x head x depth, the loop twin, the
parameter layout, initialization, dropout, and agreement with the GLM without hidden layers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdlab.core.activations import ACTIVATIONS, get_activation
from gdlab.core.gradcheck import check_model_gradient, numerical_gradient
from gdlab.core.models import GLM, MLP, model_from_config
from gdlab.teach.backprop import ACTIVATION_FUNCTIONS, mlp_loss_grad_loop

ACTS = sorted(ACTIVATIONS)
#: the head of each loss, with its number of outputs
HEADS = {"mse": 2, "bce": 1, "cce": 3, "softmax_mse": 3, "softmax_bce": 3}
DEPTHS = {1: (4,), 2: (4, 3), 3: (3, 4, 3)}


def _problem(loss: str, K: int, m: int = 6, n: int = 3, seed: int = 0):  # type: ignore
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    if loss == "mse":
        y = rng.normal(size=(m, K))
    elif loss == "bce":
        y = rng.integers(0, 2, m).astype(float)
    else:
        y = rng.integers(0, K, m)
    return X, y


def _theta(model: MLP, seed: int = 1) -> np.ndarray:
    """He / Glorot weights and non-zero biases, so every bias path is exercised."""
    theta = model.init(seed)
    biases = ~model.weight_mask()
    theta[biases] = np.random.default_rng(seed + 7).normal(scale=0.3, size=biases.sum())
    return theta


@pytest.mark.parametrize("depth", sorted(DEPTHS))
@pytest.mark.parametrize("loss", sorted(HEADS))
@pytest.mark.parametrize("act", ACTS)
def test_gradient_matches_central_differences(act: str, loss: str, depth: int) -> None:
    K = HEADS[loss]
    model = MLP(3, DEPTHS[depth], K, act, loss)
    X, y = _problem(loss, K)
    res = check_model_gradient(model, _theta(model), X, y, alpha=0.05)
    assert res.rel_error < 1e-6, (act, loss, depth, res.rel_error)


@pytest.mark.parametrize("act", ACTS)
def test_activation_derivatives_match_central_differences(act: str) -> None:
    z = np.linspace(-3.1, 2.9, 41)  # avoids z = 0, where relu's derivative jumps
    a = get_activation(act)
    numeric = (a.f(z + 1e-6) - a.f(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(a.df(z, a.f(z)), numeric, rtol=1e-7, atol=1e-9)
    f, df = ACTIVATION_FUNCTIONS[act]
    np.testing.assert_allclose([f(v) for v in z], a.f(z), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose([df(v) for v in z], a.df(z, a.f(z)), rtol=1e-13, atol=1e-15)


def test_activation_values_at_known_points() -> None:
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(get_activation("relu").f(z), [0, 0, 2])
    np.testing.assert_allclose(get_activation("leaky_relu").f(z), [-0.01, 0, 2])
    np.testing.assert_allclose(get_activation("elu").f(z), [math.exp(-1) - 1, 0, 2])
    # gelu(1) = Phi(1) = 0.841344746..., gelu(-1) = -(1 - Phi(1))
    np.testing.assert_allclose(get_activation("gelu").f(np.array([1.0, -1.0])),
                               [0.8413447460685429, -0.15865525393145707], rtol=1e-14)
    np.testing.assert_allclose(get_activation("logistic").f(np.array([0.0])), [0.5])


@pytest.mark.parametrize("loss", sorted(HEADS))
@pytest.mark.parametrize("act", ["relu", "tanh", "gelu", "sigmoid"])
def test_loop_twin_equals_vectorized(act: str, loss: str) -> None:
    K = HEADS[loss]
    model = MLP(3, (4, 3), K, act, loss)
    X, y = _problem(loss, K, m=5)
    theta = _theta(model)
    w = np.array([0.5, 2.0, 1.0, 0.0, 3.0])
    for kw in ({}, {"sample_weight": w, "alpha": 0.1}, {"reduction": "sum"}):
        loss_v, grad_v = model.loss_and_grad(theta, X, y, **kw)  # type: ignore[arg-type]
        loss_l, grad_l = mlp_loss_grad_loop(model, theta, X, y, **kw)  # type: ignore[arg-type]
        assert loss_l == pytest.approx(loss_v, rel=1e-12)
        np.testing.assert_allclose(grad_l, grad_v, rtol=1e-10, atol=1e-13)


def test_loop_twin_with_the_same_dropout_masks() -> None:
    model = MLP(3, (5, 4), 3, ("relu", "elu"), "cce", dropout=(0.5, 0.25))
    X, y = _problem("cce", 3, m=6)
    theta = _theta(model)
    key = 2024
    loss_v, grad_v = model.loss_and_grad(theta, X, y, dropout_key=key)
    masks = model.dropout_masks(6, key)
    loss_l, grad_l = mlp_loss_grad_loop(model, theta, X, y, masks=masks)
    assert loss_l == pytest.approx(loss_v, rel=1e-12)
    np.testing.assert_allclose(grad_l, grad_v, rtol=1e-10, atol=1e-13)
    # without the masks the twin gives another (the inference) loss
    assert mlp_loss_grad_loop(model, theta, X, y)[0] == pytest.approx(
        model.loss_value(theta, X, y), rel=1e-12)
    assert abs(model.loss_value(theta, X, y) - loss_v) > 1e-3


def test_parameter_layout_is_per_layer_W_row_major_then_b() -> None:
    model = MLP(2, (3,), 2, "identity", "mse")
    assert model.n_params == (2 + 1) * 3 + (3 + 1) * 2 == 17
    theta = np.arange(17.0)
    (W1, b1), (W2, b2) = model.unpack(theta)
    np.testing.assert_array_equal(W1, [[0, 1, 2], [3, 4, 5]])  # row i: weights from input i
    np.testing.assert_array_equal(b1, [6, 7, 8])
    np.testing.assert_array_equal(W2, [[9, 10], [11, 12], [13, 14]])
    np.testing.assert_array_equal(b2, [15, 16])
    assert model.offsets() == [(0, 6, 9), (9, 15, 17)]
    np.testing.assert_array_equal(model.pack([W1, W2], [b1, b2]), theta)
    np.testing.assert_array_equal(np.flatnonzero(~model.weight_mask()), [6, 7, 8, 15, 16])
    # identity activations: the network is the linear map X W1 W2 + (b1 W2 + b2)
    X = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(model.logits(theta, X), X @ W1 @ W2 + b1 @ W2 + b2)


def test_without_hidden_layers_it_is_the_glm() -> None:
    X, y = _problem("cce", 3, m=8)
    mlp, glm = MLP(3, (), 3, loss="cce"), GLM(3, 3, loss="cce")
    theta = _theta(mlp)
    for a, b in zip(mlp.loss_and_grad(theta, X, y, alpha=0.2),
                    glm.loss_and_grad(theta, X, y, alpha=0.2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_init_is_seeded_with_he_or_glorot_bounds() -> None:
    model = MLP(400, (300, 200), 10, ("relu", "tanh"), "cce")
    a, b = model.init(3), model.init(3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.init(4))
    (W1, b1), (W2, b2), (W3, b3) = model.unpack(a)
    for W, r in ((W1, math.sqrt(6 / 400)), (W2, math.sqrt(6 / 500)), (W3, math.sqrt(6 / 210))):
        assert np.abs(W).max() <= r
        assert np.abs(W).max() > 0.99 * r
        # the variance of U(-r, r) is r^2 / 3
        assert np.var(W) == pytest.approx(r * r / 3, rel=0.03)
    assert not (b1.any() or b2.any() or b3.any())
    assert model.init(0, dtype=np.float32).dtype == np.float32
    glorot = MLP(400, (300, 200), 10, ("relu", "tanh"), "cce", weight_init="glorot")
    W1g = glorot.unpack(glorot.init(3))[0][0]
    assert np.abs(W1g).max() <= math.sqrt(6 / 700) < np.abs(W1).max()
    he = MLP(400, (300, 200), 10, ("relu", "tanh"), "cce", weight_init="he")
    W2h_layer = he.unpack(he.init(3))[1][0]
    assert math.sqrt(6 / 500) < np.abs(W2h_layer).max() <= math.sqrt(6 / 300)


def test_float32_stays_float32() -> None:
    model = MLP(3, (4,), 3, "gelu", "cce", dropout=0.2)
    X, y = _problem("cce", 3)
    theta = model.init(0, dtype=np.float32)
    loss, grad = model.loss_and_grad(theta, X.astype(np.float32), y)
    assert grad.dtype == np.float32 and np.isfinite(loss)


def test_dropout_masks_reproducible_and_scaled() -> None:
    model = MLP(5, (200, 100), 2, "relu", "cce", dropout=(0.5, 0.2), seed=7)
    masks = model.dropout_masks(300, key=11)
    again = model.dropout_masks(300, key=11)
    for m1, m2 in zip(masks, again, strict=True):
        np.testing.assert_array_equal(m1, m2)
    assert set(np.unique(masks[0])) == {0.0, 2.0}
    assert set(np.unique(masks[1])) == {0.0, 1.25}
    assert np.mean(masks[0] == 0) == pytest.approx(0.5, abs=0.01)
    assert np.mean(masks[1] == 0) == pytest.approx(0.2, abs=0.01)
    X, y = _problem("cce", 2, m=300, n=5)
    theta = model.init(0)
    # the default key follows theta and the batch: same inputs, same loss; new theta, new masks
    assert model.loss_and_grad(theta, X, y)[0] == model.loss_and_grad(theta, X, y)[0]
    assert model.dropout_key(theta, X) != model.dropout_key(theta * 1.0001, X)
    assert model.dropout_key(theta, X) != model.dropout_key(theta, X[::-1])
    assert model.dropout_key(theta, X) != MLP(**{**model.get_config(), "seed": 8}).dropout_key(
        theta, X)


def test_dropout_gradient_check_with_a_fixed_key() -> None:
    model = MLP(3, (6, 5), 3, ("tanh", "gelu"), "cce", dropout=(0.3, 0.5))
    X, y = _problem("cce", 3, m=10)
    res = check_model_gradient(model, _theta(model), X, y, dropout_key=5, alpha=0.01)
    assert res.rel_error < 1e-6
    # without a fixed key the finite differences see other masks and the check fails
    theta = _theta(model)
    numeric = numerical_gradient(lambda t: model.loss_and_grad(t, X, y)[0], theta)
    analytic = model.loss_and_grad(theta, X, y)[1]
    assert np.linalg.norm(numeric - analytic) / np.linalg.norm(analytic) > 1e-2


def test_inference_has_no_dropout() -> None:
    model = MLP(3, (6,), 1, "relu", "mse", dropout=0.5)
    plain = MLP(3, (6,), 1, "relu", "mse")
    X, y = _problem("mse", 1)
    y = y[:, 0]
    theta = plain.init(0)
    np.testing.assert_array_equal(model.forward(theta, X), plain.forward(theta, X))
    assert model.loss_value(theta, X, y) == plain.loss_and_grad(theta, X, y)[0]


def test_forward_heads_and_layer_outputs() -> None:
    X, _ = _problem("cce", 3)
    for loss, K, check in (
        ("cce", 3, lambda p: np.testing.assert_allclose(p.sum(axis=1), 1.0)),
        ("bce", 1, lambda p: bool(np.all((p > 0) & (p < 1))) or pytest.fail("not in (0,1)")),
    ):
        model = MLP(3, (4, 2), K, "tanh", loss)
        theta = model.init(0)
        p = model.forward(theta, X)
        check(p)
        outs = model.layer_outputs(theta, X)
        assert [Z.shape for Z, _ in outs] == [(6, 4), (6, 2), (6, K)]
        np.testing.assert_allclose(outs[-1][1].reshape(p.shape), p, rtol=1e-15)
        np.testing.assert_allclose(outs[0][1], np.tanh(outs[0][0]))


def test_config_round_trip_and_registry() -> None:
    model = MLP(4, [8, 6], 3, ["relu", "logistic"], "cce", dropout=[0.1, 0.0], seed=2)
    assert model.activation == ("relu", "sigmoid")
    assert model.hidden_layer_sizes == (8, 6)
    assert model_from_config("mlp", model.get_config()) == model
    assert MLP(4, 5).hidden_layer_sizes == (5,)


@pytest.mark.parametrize("kwargs, match", [
    ({"hidden_layer_sizes": (4, 0)}, r"'hidden_layer_sizes' parameter of MLP must be a "
                                     r"positive int or a list of positive ints"),
    ({"activation": "swish"}, r"'activation' parameter of MLP must be one of .*'gelu'.* "
                              r"Got 'swish' instead"),
    ({"activation": ["relu"], "hidden_layer_sizes": (3, 3)},
     r"one value per hidden layer \(2\). Got 1 values"),
    ({"dropout": 1.0}, r"'dropout' parameter of MLP must be a float in the range \[0.0, 1.0\)"),
    ({"loss": "cce", "n_outputs": 1}, r"must be >= 2 for a softmax loss"),
    ({"loss": "hinge"}, r"'loss' parameter of MLP must be one of"),
    ({"weight_init": "xavier"}, r"'weight_init' parameter of MLP must be one of \{'auto', 'he', 'glorot'\}"),
])
def test_messages_name_the_argument(kwargs, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        MLP(3, **kwargs)


def test_wrong_theta_and_targets_are_refused() -> None:
    model = MLP(3, (4,), 3, loss="cce")
    X, y = _problem("cce", 3)
    with pytest.raises(ValueError, match=r"theta must have shape \(31,\) for an MLP with layer "
                                         r"sizes \[3, 4, 3\], got shape \(30,\)"):
        model.loss_and_grad(np.zeros(30), X, y)
    with pytest.raises(ValueError, match=r"class indices 0..2, got values from 0 to 3"):
        model.loss_and_grad(model.init(0), X, np.array([0, 1, 2, 3, 0, 1]))
    with pytest.raises(ValueError, match="X has 2 features, but the model is expecting 3"):
        model.loss_and_grad(model.init(0), X[:, :2], y)
