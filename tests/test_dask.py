"""Estimators on Dask collections give the in-memory answer (gdlab.engines.dask,
gdlab.estimators._dask).

Full batch: a fit on a dask array equals the in-memory fit to 1e-8 relative for every model
and optimizer, with the threaded scheduler and on a LocalCluster of 2 worker processes (and the
two are bit-identical). Mini-batch: the same seed and chunking give the same model whatever
runs the blocks. One LocalCluster serves the whole test session.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from gdlab.core.loop import ModelProblem, TrainConfig, TrainState, run  # noqa: E402
from gdlab.core.optim import OPTIMIZERS  # noqa: E402
from gdlab.engines.dask import DaskSource, default_scheduler  # noqa: E402
from gdlab.estimators.linear import (  # noqa: E402
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N, P, CHUNK = 1100, 6, 250  # 5 blocks, the last one short


@pytest.fixture
def client(dask_client):
    return dask_client


def _data(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    z = X @ rng.normal(size=P)
    if kind == "linear":
        return X, z + 0.3 * rng.normal(size=N) + 2.0
    if kind == "logistic":
        return X, np.where(z + rng.normal(size=N) > 0, "yes", "no")
    return X, np.digitize(z + 0.5 * rng.normal(size=N), [-1.0, 0.5])  # 3 classes


ESTIMATORS = {"linear": LinearRegression, "logistic": LogisticRegression,
              "softmax": SoftmaxRegression}


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _lazy(X, y, w=None):
    out = [da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK)]
    return out + ([None] if w is None else [da.from_array(w, chunks=CHUNK)])


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_full_batch_equals_in_memory_threaded(kind, optimizer):
    X, y = _data(kind)
    kw = dict(optimizer=optimizer, lr=0.05, batch_size=None, epochs=25, tol=None,
              random_state=0)
    ref = ESTIMATORS[kind](**kw).fit(X, y)
    Xd, yd, _ = _lazy(X, y)
    with dask.config.set(scheduler="threads"):
        est = ESTIMATORS[kind](**kw).fit(Xd, yd)
    assert _rel(est.theta_, ref.theta_) < 1e-8
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-8)
    assert est.n_iter_ == ref.n_iter_ == 25


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_full_batch_on_a_cluster_equals_threads_and_memory(kind, client):
    X, y = _data(kind, seed=1)
    kw = dict(optimizer="adam", lr=0.05, batch_size=None, epochs=15, tol=None, random_state=0)
    ref = ESTIMATORS[kind](**kw).fit(X, y)
    Xd, yd, _ = _lazy(X, y)
    with default_scheduler(client):
        on_dask = ESTIMATORS[kind](**kw).fit(Xd, yd)
    with dask.config.set(scheduler="threads"):
        threaded = ESTIMATORS[kind](**kw).fit(Xd, yd)
    assert _rel(on_dask.theta_, ref.theta_) < 1e-8
    # same blocks, same tree, aligned blocks on the workers: the same bits
    np.testing.assert_array_equal(on_dask.theta_, threaded.theta_)


def test_sample_weight_and_class_weight_equal_in_memory():
    X, y = _data("softmax", seed=2)
    w = np.random.default_rng(3).uniform(0, 2, size=N)
    w[CHUNK:2 * CHUNK] = 0.0  # a whole block without weight
    Xd, yd, wd = _lazy(X, y, w)
    for cw in ("balanced", {0: 3.0, 2: 0.5}):
        kw = dict(optimizer="nesterov", lr=0.1, batch_size=None, epochs=20, tol=None,
                  class_weight=cw)
        ref = SoftmaxRegression(**kw).fit(X, y, sample_weight=w)
        with dask.config.set(scheduler="threads"):
            est = SoftmaxRegression(**kw).fit(Xd, yd, sample_weight=wd)
        assert _rel(est.theta_, ref.theta_) < 1e-8, cw
    X, y = _data("linear", seed=2)
    ref = LinearRegression(batch_size=None, epochs=20, tol=None).fit(X, y, sample_weight=w)
    Xd, yd, wd = _lazy(X, y, w)
    with dask.config.set(scheduler="threads"):
        est = LinearRegression(batch_size=None, epochs=20, tol=None).fit(Xd, yd,
                                                                         sample_weight=wd)
    assert _rel(est.theta_, ref.theta_) < 1e-8


def test_dask_dataframe_input_equals_array_input():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data("logistic", seed=4)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(P)])
    ddf = dd.from_pandas(df, npartitions=4)
    ys = dd.from_pandas(pd.Series(y, name="y"), npartitions=4)
    kw = dict(lr=0.1, batch_size=None, epochs=10, tol=None)
    ref = LogisticRegression(**kw).fit(df, y)
    with dask.config.set(scheduler="threads"):
        est = LogisticRegression(**kw).fit(ddf, ys)
        assert list(est.feature_names_in_) == list(df.columns)
        proba = est.predict_proba(ddf)
        assert isinstance(proba, da.Array)
        np.testing.assert_allclose(proba.compute(), ref.predict_proba(df), rtol=1e-8)
    assert _rel(est.theta_, ref.theta_) < 1e-8
    assert list(est.classes_) == ["no", "yes"]


def test_predict_score_are_lazy_and_equal_in_memory():
    for kind in sorted(ESTIMATORS):
        X, y = _data(kind, seed=5)
        kw = dict(lr=0.1, batch_size=None, epochs=10, tol=None)
        ref = ESTIMATORS[kind](**kw).fit(X, y)
        Xd, yd, _ = _lazy(X, y)
        with dask.config.set(scheduler="threads"):
            est = ESTIMATORS[kind](**kw).fit(Xd, yd)
            methods = ["predict"] + (["predict_proba", "decision_function"]
                                     if kind != "linear" else [])
            for name in methods:
                out = getattr(est, name)(Xd)
                assert isinstance(out, da.Array), name
                got, want = out.compute(), getattr(ref, name)(X)
                if got.dtype.kind == "f":
                    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)
                else:
                    np.testing.assert_array_equal(got, want)
            score = est.score(Xd, yd)
            assert isinstance(score, da.Array) and score.ndim == 0
            assert float(score.compute()) == pytest.approx(ref.score(X, y), rel=1e-7)
            w = np.linspace(0.5, 1.5, N)
            assert float(est.score(Xd, yd, sample_weight=w).compute()) == pytest.approx(
                ref.score(X, y, sample_weight=w), rel=1e-7)


def _minibatch_fit(Xd, yd, scheduler, **kw):
    with default_scheduler(scheduler):
        return SoftmaxRegression(optimizer="adam", lr=0.05, batch_size=64, epochs=3, tol=None,
                                 random_state=7, **kw).fit(Xd, yd)


def test_minibatch_is_the_same_whatever_runs_the_blocks(client):
    X, y = _data("softmax", seed=6)
    Xd, yd, _ = _lazy(X, y)
    one = _minibatch_fit(Xd, yd, "sync")
    threads = _minibatch_fit(Xd, yd, "threads")
    cluster = _minibatch_fit(Xd, yd, client)
    np.testing.assert_array_equal(one.theta_, threads.theta_)
    np.testing.assert_array_equal(one.theta_, cluster.theta_)
    # the epoch order: blocks in a random order, each block's rows together, shuffled
    order = one.state_.order
    assert sorted(order.tolist()) == list(range(N))
    blocks = order // CHUNK
    starts = np.flatnonzero(np.diff(blocks)) + 1
    assert len(starts) == -(-N // CHUNK) - 1  # every block appears as one run
    assert not np.array_equal(order[:CHUNK], np.sort(order[:CHUNK]))
    # another seed, another order; another chunking, another order
    other = _minibatch_fit(da.from_array(X, chunks=(200, P)), da.from_array(y, chunks=200),
                           "threads")
    assert not np.array_equal(other.theta_, one.theta_)


def test_checkpoint_resume_gives_the_same_model(tmp_path):
    from gdlab.io.checkpoint import CheckpointCallback, load_checkpoint

    X, y = _data("softmax", seed=8)
    Xd, yd, _ = _lazy(X, y)
    kw = dict(optimizer="momentum", lr=0.05, batch_size=100, epochs=4, tol=None,
              random_state=3)
    with dask.config.set(scheduler="threads"):
        whole = SoftmaxRegression(**kw).fit(Xd, yd)
        stopped = SoftmaxRegression(**kw, callbacks=[
            CheckpointCallback(tmp_path, fingerprint="f", every=1),
            lambda state, record: state.epoch >= 2]).fit(Xd, yd)
        assert stopped.n_iter_ == 2
        state, _ = load_checkpoint(sorted(tmp_path.glob("*.npz"))[-1], fingerprint="f")
        assert state.epoch == 2 and state.order is not None
        resumed = SoftmaxRegression(**kw).fit(Xd, yd, resume_from=state)
    np.testing.assert_array_equal(resumed.theta_, whole.theta_)


def test_early_stopping_holds_out_blocks_and_matches_the_loop():
    X, y = _data("logistic", seed=9)
    Xd, yd, _ = _lazy(X, y)
    kw = dict(optimizer="gd", lr=0.5, batch_size=None, epochs=40, tol=1e-3,
              n_iter_no_change=3, early_stopping=True, validation_fraction=0.2,
              random_state=11)
    with dask.config.set(scheduler="threads"):
        est = LogisticRegression(**kw).fit(Xd, yd)
    # the held-out blocks: validation_fraction of the 5 blocks, drawn from random_state
    val = sorted(np.random.default_rng(11).choice(5, size=1, replace=False).tolist())
    rows = np.concatenate([np.arange(b * CHUNK, min(N, (b + 1) * CHUNK)) for b in val])
    train = np.setdiff1d(np.arange(N), rows)
    y01 = (y == "yes").astype(float)
    model = est.model_
    problem = ModelProblem.from_arrays(model, X[train], y01[train], alpha=est.alpha_,
                                       engine="auto")

    def validation(theta):
        loss = model.loss_value(theta, X[rows], y01[rows], alpha=est.alpha_)
        return loss, float(np.mean((model.logits(theta, X[rows]) > 0) == y01[rows]))

    config = TrainConfig(optimizer="gd", lr=0.5, batch_size=None, epochs=40, tol=1e-3,
                         n_iter_no_change=3, restore_best=True)
    state = run(problem, TrainState.start(np.zeros(P + 1), "gd", random_state=11), config,
                validation=validation)
    assert est.n_iter_ == state.epoch < 40
    assert _rel(est.theta_, state.theta) < 1e-8
    np.testing.assert_allclose(est.validation_scores_,
                               [r.val_score for r in state.history], rtol=1e-12)


def test_nan_in_a_block_names_the_block():
    X, y = _data("linear", seed=10)
    X[3 * CHUNK + 7, 2] = np.nan
    Xd, yd, _ = _lazy(X, y)
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match=r"Input X contains NaN in block 3 \(rows "
                                             r"750\.\.999\) at row 757, column 2"):
            LinearRegression(batch_size=None, epochs=3).fit(Xd, yd)


def test_source_sums_add_in_a_fixed_tree():
    """The full-batch sums equal a NumPy pairwise tree over the same blocks, bit for bit."""
    from gdlab.core.models import GLM
    from gdlab.engines.dask.blocks import BlockTerm, add_sums, block_sums
    from gdlab.engines.dask.source import tree_reduce

    X, y = _data("softmax", seed=12)
    model = GLM(n_features=P, n_outputs=3, loss="cce")
    theta = np.random.default_rng(0).normal(size=model.n_params)
    term = BlockTerm(model)
    with dask.config.set(scheduler="threads"):
        src = DaskSource(da.from_array(X, chunks=(CHUNK, P)), da.from_array(y, chunks=CHUNK))
        got = src.sums(term, theta)
    want = tree_reduce([block_sums(term, theta, X[i:i + CHUNK], y[i:i + CHUNK], None)
                        for i in range(0, N, CHUNK)], add_sums)
    assert got[0] == want[0] and got[2] == want[2] == N
    np.testing.assert_array_equal(got[1], want[1])


def _mlp_data(seed: int = 13):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    return X, np.digitize(np.tanh(X @ rng.normal(size=P)) + 0.3 * rng.normal(size=N),
                          [-0.3, 0.3])  # 3 classes


def test_mlp_full_batch_equals_in_memory_threads_and_cluster(client):
    from gdlab import MLPClassifier

    X, y = _mlp_data()
    kw = dict(hidden_layer_sizes=(8, 5), activation="tanh", optimizer="adam", lr=0.01,
              batch_size=None, epochs=15, tol=None, random_state=0)
    ref = MLPClassifier(**kw).fit(X, y)
    Xd, yd, _ = _lazy(X, y)
    with dask.config.set(scheduler="threads"):
        threaded = MLPClassifier(**kw).fit(Xd, yd)
        proba = threaded.predict_proba(Xd)
        assert isinstance(proba, da.Array)
        np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), rtol=1e-7)
    with default_scheduler(client):
        on_dask = MLPClassifier(**kw).fit(Xd, yd)
    assert ref.loss_curve_[-1] < ref.loss_curve_[0]
    assert _rel(threaded.theta_, ref.theta_) < 1e-8
    np.testing.assert_allclose(threaded.loss_curve_, ref.loss_curve_, rtol=1e-8)
    np.testing.assert_array_equal(on_dask.theta_, threaded.theta_)
    for a, b in zip(on_dask.coefs_, ref.coefs_, strict=True):
        assert a.shape == b.shape


def test_mlp_minibatch_runs_and_is_the_same_on_a_cluster(client):
    from gdlab import MLPClassifier

    X, y = _mlp_data(seed=14)
    Xd, yd, _ = _lazy(X, y)
    kw = dict(hidden_layer_sizes=(16,), optimizer="adam", lr=0.01, batch_size=64, epochs=4,
              tol=None, random_state=5)
    with dask.config.set(scheduler="threads"):
        threaded = MLPClassifier(**kw).fit(Xd, yd)
        accuracy = float(threaded.score(Xd, yd).compute())
    with default_scheduler(client):
        on_dask = MLPClassifier(**kw).fit(Xd, yd)
    np.testing.assert_array_equal(on_dask.theta_, threaded.theta_)
    assert threaded.n_iter_ == 4 and threaded.t_ == 4 * -(-N // 64)
    assert threaded.loss_curve_[-1] < threaded.loss_curve_[0]
    assert accuracy > 0.6  # 3 classes: chance is ~1/3


def test_mlp_regressor_standardizes_the_target_on_dask_as_in_memory():
    from gdlab import MLPRegressor

    X, _ = _mlp_data(seed=15)
    y = 1000.0 + 50.0 * np.sin(X[:, 0]) + 20.0 * X[:, 1]  # grams: far from unit scale
    kw = dict(hidden_layer_sizes=(8,), optimizer="adam", lr=0.01, batch_size=None, epochs=10,
              tol=None, random_state=0)
    ref = MLPRegressor(**kw).fit(X, y)
    Xd, yd, _ = _lazy(X, y)
    with dask.config.set(scheduler="threads"):
        est = MLPRegressor(**kw).fit(Xd, yd)
        pred = est.predict(Xd)
        assert isinstance(pred, da.Array)
        np.testing.assert_allclose(pred.compute(), ref.predict(X), rtol=1e-8)
        assert float(est.score(Xd, yd).compute()) == pytest.approx(ref.score(X, y), rel=1e-7)
    np.testing.assert_allclose(est._y_mean, [np.mean(y)], rtol=1e-12)
    np.testing.assert_allclose(est._y_scale, [np.std(y)], rtol=1e-12)
    assert _rel(est.theta_, ref.theta_) < 1e-8


def test_auto_lr_takes_the_in_memory_subsample_block_by_block(client, monkeypatch):
    """lr='auto' on more rows than _AUTO_LR_ROWS: the same seeded rows, fetched by one task
    per block (DaskSource.take), give the in-memory rate exactly."""
    monkeypatch.setattr(SoftmaxRegression, "_AUTO_LR_ROWS", 300)
    X, y = _data("softmax", seed=16)
    w = np.random.default_rng(17).uniform(0.5, 2.0, size=N)
    kw = dict(optimizer="nesterov", lr="auto", batch_size=None, epochs=5, tol=None)
    ref = SoftmaxRegression(**kw).fit(X, y, sample_weight=w)
    Xd, yd, wd = _lazy(X, y, w)
    with dask.config.set(scheduler="threads"):
        threaded = SoftmaxRegression(**kw).fit(Xd, yd, sample_weight=wd)
    with default_scheduler(client):
        on_dask = SoftmaxRegression(**kw).fit(Xd, yd, sample_weight=wd)
    assert threaded.lr_ == on_dask.lr_ == ref.lr_
    assert _rel(threaded.theta_, ref.theta_) < 1e-8
    np.testing.assert_array_equal(on_dask.theta_, threaded.theta_)
    rows = np.random.default_rng(0).choice(N, 300, replace=False)
    source = DaskSource(Xd, yd, wd, scheduler="threads")
    got = source.take(rows)
    np.testing.assert_array_equal(got[0], X[rows])
    np.testing.assert_array_equal(got[2], w[rows])


def _made_block(b: int, X: np.ndarray) -> np.ndarray:
    """A block made by a task (as a file read and encoded is)."""
    return X[b * CHUNK:(b + 1) * CHUNK] * 1.0


def test_blocks_recomputed_at_every_pass_are_made_inside_the_summing_task(client):
    """persist=False: one task per block and step, which makes the block and sums it where y's
    block is; the sums equal those of the persisted blocks bit for bit."""
    from gdlab.core.models import GLM
    from gdlab.engines.dask.blocks import BlockTerm

    X, y = _data("linear", seed=4)
    parts = [da.from_delayed(dask.delayed(_made_block)(b, X), shape=(min(CHUNK, N - b * CHUNK), P),
                             dtype=X.dtype) for b in range(-(-N // CHUNK))]
    Xd, yd = da.concatenate(parts), da.from_array(y, chunks=CHUNK)
    term = BlockTerm(GLM(P, 1, loss="mse"))
    theta = np.linspace(-1, 1, P + 1)
    kept = DaskSource(Xd, yd, persist=True, scheduler=client).sums(term, theta)
    source = DaskSource(Xd, yd, persist=False, scheduler=client)
    with distributed.get_task_stream(client) as ts:
        again = source.sums(term, theta)
    names = [str(t["key"][0] if isinstance(t["key"], tuple) else t["key"]).split("-")[0]
             for t in ts.data]
    # one task per block makes it and sums it (no task of X's own graph runs)
    assert names.count("made_block_sums") == source.n_blocks
    assert not {"_made_block", "block_sums"} & set(names)
    assert again[0] == kept[0] and again[2] == kept[2]
    np.testing.assert_array_equal(again[1], kept[1])
    # blocks of a persisted collection are not remade: the sums run on them
    held = DaskSource(Xd.persist(), yd, persist=False, scheduler=client)
    np.testing.assert_array_equal(held.sums(term, theta)[1], kept[1])


def test_one_kernel_thread_leaves_a_blocked_numba_alone(monkeypatch):
    """numba blocked in sys.modules (None: GDLAB_NO_NUMBA=1 does this) is neither imported nor
    set; a block's sums run as without it."""
    import sys

    from gdlab.engines.dask.blocks import one_kernel_thread

    monkeypatch.setitem(sys.modules, "numba", None)
    with one_kernel_thread():
        assert sys.modules["numba"] is None


@pytest.mark.parametrize("persist", [True, False])
@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_a_fit_computes_on_its_own_scheduler_only(kind, persist):
    """fit_dask(scheduler=...) runs every computation there (the targets' pass, the target's
    scaling, the auto learning rate, the steps), whatever Dask's default is: targets persisted
    through one Client and then computed through another may reach the scheduler after the
    computation that needs them ('lost dependencies')."""
    from dask.threaded import get as threaded_get

    from gdlab.estimators._dask import fit_dask

    calls: list[int] = []

    def ours(dsk, keys, **kwargs):
        calls.append(1)
        return threaded_get(dsk, keys, **kwargs)

    def elsewhere(dsk, keys, **kwargs):
        raise AssertionError("computed on Dask's default scheduler, not on the fit's")

    X, y = _data(kind, seed=5)
    Xd, yd, _ = _lazy(X, y)
    est = ESTIMATORS[kind](epochs=4, random_state=0)
    with dask.config.set(scheduler=elsewhere):
        fit_dask(est, Xd, yd, None, partial=False, scheduler=ours, persist=persist)
    assert len(calls) >= est.n_iter_
    ref = ESTIMATORS[kind](epochs=4, random_state=0).fit(X, y)
    assert _rel(est.coef_, ref.coef_) < 1e-8


def test_a_fit_through_another_client_leaves_the_current_one_alone(client, monkeypatch):
    """A fit given one Client (fit_files connects its own) while another is current computes
    nothing through the current one."""
    from gdlab.estimators._dask import fit_dask

    other = distributed.Client(client.scheduler.address, set_as_default=False)

    def elsewhere(*args, **kwargs):
        raise AssertionError("computed through the current Client, not the fit's")

    try:
        X, y = _data("logistic", seed=6)
        Xd, yd, _ = _lazy(X, y)
        est = LogisticRegression(epochs=4, random_state=0)
        with default_scheduler(client):
            monkeypatch.setattr(client, "get", elsewhere)
            monkeypatch.setattr(client, "persist", elsewhere)
            fit_dask(est, Xd, yd, None, partial=False, scheduler=other, persist=False)
            monkeypatch.undo()
    finally:
        other.close()
    ref = LogisticRegression(epochs=4, random_state=0).fit(X, y)
    assert _rel(est.coef_, ref.coef_) < 1e-8


def test_classifier_targets_are_checked_once_and_encoded_as_in_memory():
    """The classes are found from the blocks, so each block is only indexed into them; a
    continuous target is still refused with scikit-learn's message, one block's labels need
    not be all of them, and the encoded targets equal the in-memory encoding."""
    X, _ = _data("logistic")
    y = np.repeat(np.array(["c", "a", "b", "a", "c"]), [250, 250, 250, 250, 100])
    Xd, yd, _ = _lazy(X, y)  # blocks of 250: each block holds one label
    est = SoftmaxRegression(epochs=3, random_state=0).fit(Xd, yd)
    ref = SoftmaxRegression(epochs=3, random_state=0).fit(X, y)
    assert est.classes_.tolist() == ["a", "b", "c"]
    assert _rel(est.coef_, ref.coef_) < 1e-8
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        LogisticRegression(epochs=2).fit(Xd, da.from_array(X[:, 0] * 0.37, chunks=CHUNK))
    # labels outside `classes` given up front are still named
    with pytest.raises(ValueError, match=r"labels \['c'\] that are not in classes_"):
        SoftmaxRegression(epochs=2).partial_fit(Xd, yd, classes=["a", "b"])


@pytest.mark.parametrize("persist", [True, False])
def test_a_source_on_a_cluster_is_ready_before_the_first_step(client, persist):
    """Persisting on a cluster returns at once; the source waits until its persisted blocks
    are made, so that the first epoch's time is the epoch's own."""
    X, y = _data("linear", seed=7)
    Xd, yd, _ = _lazy(X, y)
    source = DaskSource(Xd, yd, persist=persist, scheduler=client)
    held = distributed.futures_of([source.y] + ([source.X] if persist else []))
    assert len(held) == source.n_blocks * (2 if persist else 1)
    assert {f.status for f in held} == {"finished"}
