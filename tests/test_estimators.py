"""Estimators: scikit-learn's own checks, accuracy on bundled real data, Pipeline/GridSearchCV,
partial_fit, sample and class weights, divergence, convergence warnings, early stopping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.linear_model as sk
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gdlab.core.loop import DivergenceError
from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression

# No expected failures: with the default batch_size='auto' (256 rows) the checks' small data
# sets are fitted full-batch, so even the sample-weight equivalence checks hold exactly.


@parametrize_with_checks(
    [LinearRegression(random_state=0),
     LogisticRegression(random_state=0),
     SoftmaxRegression(random_state=0)],
)
def test_sklearn_compatible(estimator, check) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_sample_weight_equals_repetition_full_batch() -> None:
    """With full-batch descent the weighted mean loss is exactly the repeated-rows loss."""
    X, y = make_classification(60, 4, random_state=0)
    w = np.random.default_rng(0).integers(0, 4, 60)
    rep = np.repeat(np.arange(60), w)
    kw = dict(optimizer="gd", lr=0.5, batch_size=None, epochs=300, tol=None, random_state=0)
    a = LogisticRegression(**kw).fit(X, y, sample_weight=w.astype(float))
    b = LogisticRegression(**kw).fit(X[rep], y[rep])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9)


def _split(loader, stratify=True):  # type: ignore[no-untyped-def]
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0,
                            stratify=y if stratify else None)


def test_diabetes_r2_matches_sklearn() -> None:
    Xtr, Xte, ytr, yte = _split(load_diabetes, stratify=False)
    ref = sk.LinearRegression().fit(Xtr, ytr).score(Xte, yte)
    ours = make_pipeline(StandardScaler(), LinearRegression(
        optimizer="gd", lr=0.1, batch_size=None, epochs=3000, tol=1e-9, alpha=0.0,
        random_state=0)).fit(Xtr, ytr)
    assert abs(ours.score(Xte, yte) - ref) < 0.01


def test_breast_cancer_accuracy_matches_sklearn() -> None:
    Xtr, Xte, ytr, yte = _split(load_breast_cancer)
    ref = make_pipeline(StandardScaler(), sk.LogisticRegression()).fit(Xtr, ytr).score(Xte, yte)
    ours = make_pipeline(StandardScaler(), LogisticRegression(random_state=0)).fit(Xtr, ytr)
    assert ours.score(Xte, yte) >= ref - 0.01


@pytest.mark.parametrize("loader", [load_iris, load_wine, load_digits])
def test_softmax_accuracy_matches_sklearn_multinomial(loader) -> None:  # type: ignore
    Xtr, Xte, ytr, yte = _split(loader)
    ref = make_pipeline(StandardScaler(), sk.LogisticRegression(max_iter=5000)).fit(
        Xtr, ytr).score(Xte, yte)
    ours = make_pipeline(StandardScaler(), SoftmaxRegression(
        alpha=1.0 / len(ytr), epochs=300, random_state=0)).fit(Xtr, ytr)
    assert ours.score(Xte, yte) >= ref - 0.01


def test_pipeline_and_grid_search() -> None:
    X, y = load_iris(return_X_y=True)
    grid = GridSearchCV(make_pipeline(StandardScaler(), SoftmaxRegression(epochs=60,
                                                                          random_state=0)),
                        {"softmaxregression__optimizer": ["adam", "momentum"],
                         "softmaxregression__lr": [0.01, 0.1]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.9
    assert set(grid.best_params_) == {"softmaxregression__optimizer", "softmaxregression__lr"}


def test_string_labels_and_probabilities() -> None:
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = SoftmaxRegression(random_state=0).fit(StandardScaler().fit_transform(X), names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    proba = clf.predict_proba(StandardScaler().fit_transform(X))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert clf.coef_.shape == (3, 4) and clf.intercept_.shape == (3,)
    binary = LogisticRegression(random_state=0).fit(X[:100], np.where(y[:100] == 0, "no", "yes"))
    assert list(binary.classes_) == ["no", "yes"] and binary.coef_.shape == (1, 4)
    assert binary.score(X[:100], np.where(y[:100] == 0, "no", "yes")) == 1.0


def test_partial_fit_continues_training() -> None:
    X, y = make_classification(300, 5, random_state=1)
    clf = LogisticRegression(random_state=0, lr=0.05)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1])
    first = clf.loss_curve_[-1]
    for _ in range(10):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 11 and clf.loss_curve_[-1] < first


def test_class_weight_balanced_moves_the_boundary() -> None:
    X, y = make_classification(400, 4, weights=[0.9, 0.1], random_state=0)
    plain = LogisticRegression(random_state=0).fit(X, y)
    balanced = LogisticRegression(random_state=0, class_weight="balanced").fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_divergence_error_keeps_last_finite_parameters() -> None:
    X, y = load_diabetes(return_X_y=True)
    reg = LinearRegression(optimizer="gd", lr=1e6, batch_size=None, epochs=100, tol=None)
    # diabetes' columns * 100 share one moderate scale (root mean square 4.8): the fix named
    # is the rate, not standardizing
    with pytest.raises(DivergenceError, match=r"diverged at epoch \d+, step \d+.*smaller "
                                              r"learning rate \(e.g. lr=0.00549") as info:
        reg.fit(X * 100, y)
    assert np.isfinite(reg.coef_).all() and np.isfinite(reg.intercept_)
    assert info.value.lr == 1e6 and info.value.last_finite_loss is not None


def test_convergence_warning_at_epoch_limit() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="LogisticRegression stopped at the epoch limit "
                                                "epochs=2 without converging") as rec:
        LogisticRegression(epochs=2, random_state=0).fit(StandardScaler().fit_transform(X), y)
    assert rec[0].filename == __file__  # the user's line, not gdlab's


def test_early_stopping_restores_best_weights() -> None:
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SoftmaxRegression(early_stopping=True, n_iter_no_change=3, lr=0.05, epochs=100,
                            random_state=0, alpha=0.0).fit(X, y)
    scores = clf.validation_scores_
    assert clf.n_iter_ < 100 and len(scores) == clf.n_iter_
    best = int(np.argmax(scores))
    # the fitted weights are those of the best validation epoch, not the last one
    assert clf.history_[best]["val_score"] == max(scores)
    assert clf.converged_


def test_history_fields() -> None:
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(epochs=5, tol=None, random_state=0).fit(X, y)
    h = clf.history_
    assert len(h) == 5 and set(h[0]) >= {"epoch", "loss", "lr", "grad_norm", "seconds"}
    assert clf.t_ == 5  # 150 rows < 256: one full batch per epoch


def test_same_seed_same_result() -> None:
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a = SoftmaxRegression(batch_size=16, epochs=20, random_state=3).fit(X, y)
    b = SoftmaxRegression(batch_size=16, epochs=20, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_float32_input_stays_float32() -> None:
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxRegression(epochs=20, random_state=0).fit(X.astype(np.float32), y)
    assert clf.coef_.dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32


class TestBadInput:
    def test_parameter_messages(self) -> None:
        X, y = load_iris(return_X_y=True)
        with pytest.raises(ValueError, match=r"The 'lr' parameter of SoftmaxRegression must be "
                                             r"a str among {'auto'} or a float in the range "
                                             r"\(0.0, inf\). Got -1"):
            SoftmaxRegression(lr=-1).fit(X, y)
        with pytest.raises(ValueError, match="Unknown optimizer 'adamm'"):
            SoftmaxRegression(optimizer="adamm").fit(X, y)
        with pytest.raises(ValueError, match="'loss' parameter of SoftmaxRegression"):
            SoftmaxRegression(loss="hinge").fit(X, y)

    def test_not_fitted(self) -> None:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            LinearRegression().predict(np.zeros((2, 2)))

    def test_wrong_feature_count(self) -> None:
        X, y = load_iris(return_X_y=True)
        clf = SoftmaxRegression(epochs=3, tol=None).fit(X, y)
        with pytest.raises(ValueError, match="X has 3 features, but SoftmaxRegression is "
                                             "expecting 4 features"):
            clf.predict(X[:, :3])

    def test_logistic_needs_two_classes(self) -> None:
        X, y = load_iris(return_X_y=True)
        with pytest.raises(ValueError, match="Only binary classification is supported.*got 3 classes.*Softmax"):
            LogisticRegression().fit(X, y)
        with pytest.raises(ValueError, match="got 1 class"):
            LogisticRegression().fit(X[:10], y[:10])


def test_gram_cache_gives_the_same_fit_as_passes_over_X() -> None:
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    w = np.random.default_rng(0).uniform(0.5, 2, len(y))
    kw = dict(optimizer="gd", lr=0.1, batch_size=None, epochs=200, tol=None, alpha=0.01)
    cached = LinearRegression(precompute=True, **kw).fit(X, y, sample_weight=w)
    plain = LinearRegression(precompute=False, **kw).fit(X, y, sample_weight=w)
    assert cached.state_ is not None
    np.testing.assert_allclose(cached.coef_, plain.coef_, rtol=1e-9)
    np.testing.assert_allclose(cached.loss_curve_, plain.loss_curve_, rtol=1e-9)
    two = np.column_stack([y, 2 * y])
    a = LinearRegression(precompute=True, **kw).fit(X, two)
    b = LinearRegression(precompute=False, **kw).fit(X, two)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9)
    # 'auto' uses the cache only when every step is full-batch
    assert LinearRegression(batch_size=None, epochs=50)._use_gram(X)
    assert not LinearRegression(batch_size=32, epochs=50)._use_gram(X)


def test_optimizer_objects_and_schedule_names() -> None:
    from gdlab.core.optim import Adam
    from gdlab.core.schedules import ExponentialLR

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SoftmaxRegression(optimizer=Adam(beta1=0.8), lr=0.05, epochs=10, tol=None,
                            schedule="cosine", random_state=0).fit(X, y)
    lrs = [h["lr"] for h in clf.history_]
    # a bare name is scaled to the run: cosine with T_max = epochs
    np.testing.assert_allclose(lrs, [0.05 * (1 + np.cos(np.pi * t / 10)) / 2 for t in range(10)],
                               rtol=1e-12)
    clf = SoftmaxRegression(schedule=ExponentialLR(gamma=0.5), lr=0.1, epochs=3, tol=None,
                            random_state=0).fit(X, y)
    assert [h["lr"] for h in clf.history_] == [0.1, 0.05, 0.025]
    step = SoftmaxRegression(schedule="dynamic", schedule_unit="step", batch_size=50, lr=0.1,
                             epochs=2, tol=None, random_state=0).fit(X, y)
    assert step.t_ == 6 and step.history_[-1]["lr"] == pytest.approx(0.1 * (1 - 5 / 6))
    with pytest.raises(ValueError, match="optimizer"):
        SoftmaxRegression(optimizer=42).fit(X, y)


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from gdlab.core.loop import EpochRecord
    from gdlab.estimators.progress import EpochProgress

    record = EpochRecord(epoch=0, loss=0.5, lr=0.1, grad_norm=1.0, seconds=0.1, steps=1)
    buf = io.StringIO()
    bar = EpochProgress(3, "fit", console=Console(file=buf, force_terminal=True, width=80))
    bar(None, record)
    bar.close()
    assert "epoch 1/3" in buf.getvalue() and "loss 0.5" in buf.getvalue()
    quiet = io.StringIO()
    off = EpochProgress(3, "fit", console=Console(file=quiet, force_terminal=False))
    off(None, record)
    off.close()
    assert not off.enabled and quiet.getvalue() == ""
