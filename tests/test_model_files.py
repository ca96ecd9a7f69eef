"""Model files (no pickle) and checkpoints: round trips, refusals, bit-identical resume."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import gdlab
from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from gdlab.estimators.persist import load_model
from gdlab.io import ModelFileError, save_arrays
from gdlab.io.checkpoint import CheckpointCallback, fingerprint, load_checkpoint

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def _fitted():  # type: ignore[no-untyped-def]
    X, y = load_iris(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    return [
        (SoftmaxRegression(random_state=0, epochs=30), X, np.array(["a", "b", "c"])[y]),
        (LogisticRegression(random_state=0, epochs=30), X[:100], y[:100]),
        (LinearRegression(random_state=0, epochs=30), Xd, yd),
        (LinearRegression(random_state=0, epochs=30), Xd, np.column_stack([yd, -yd])),
    ]


@pytest.mark.parametrize("case", range(4))
def test_round_trip_gives_identical_predictions(case: int, tmp_path) -> None:  # type: ignore
    est, X, y = _fitted()[case]
    est.fit(X, y)
    path = tmp_path / "model.npz"
    est.save(path)
    loaded = gdlab.load(path)
    assert type(loaded) is type(est)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.get_params()["lr"] == est.lr


def test_pickle_file_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps({"coef": [1, 2]}))
    with pytest.raises(ModelFileError, match="looks like a pickle file"):
        load_model(path)


def test_altered_and_inconsistent_files_are_refused(tmp_path) -> None:  # type: ignore
    est = SoftmaxRegression(random_state=0, epochs=5).fit(*load_iris(return_X_y=True))
    path = tmp_path / "m.npz"
    est.save(path)
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        load_model(bad)
    bad.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        load_model(bad)
    meta = {"model_type": "SoftmaxRegression", "n_features": 4, "params": {}}
    save_arrays(bad, {"coef": np.zeros((3, 5)), "intercept": np.zeros(3),
                      "classes": np.arange(3)}, meta, kind="model")
    with pytest.raises(ModelFileError, match=r"coef.*shape \(3, 5\), expected"):
        load_model(bad)
    save_arrays(bad, {"coef": np.zeros((3, 4)), "intercept": np.zeros(3),
                      "classes": np.arange(3), "evil": np.zeros(1)}, meta, kind="model")
    with pytest.raises(ModelFileError, match="unknown arrays"):
        load_model(bad)
    save_arrays(bad, {"coef": np.zeros((3, 4)), "intercept": np.zeros(3)},
                {**meta, "model_type": "os.system"}, kind="model")
    with pytest.raises(ModelFileError, match="unknown model_type 'os.system'"):
        load_model(bad)


def _digits():  # type: ignore[no-untyped-def]
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


KW = dict(batch_size=64, epochs=8, tol=None, random_state=0, schedule="plateau",
          optimizer="adam")


def test_resume_is_bit_identical_and_needs_the_generator_state(tmp_path) -> None:  # type: ignore
    X, y = _digits()
    full = SoftmaxRegression(**KW).fit(X, y)
    fp = fingerprint([X, y], KW)
    cb = CheckpointCallback(tmp_path, fingerprint=fp, every=1)
    SoftmaxRegression(**{**KW, "epochs": 3}, callbacks=[cb]).fit(X, y)
    state, _ = load_checkpoint(cb.path, fingerprint=fp)
    assert state.epoch == 3 and len(state.history) == 3
    resumed = SoftmaxRegression(**KW).fit(X, y, resume_from=state)
    assert resumed.coef_.tobytes() == full.coef_.tobytes()
    assert resumed.intercept_.tobytes() == full.intercept_.tobytes()
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    # the control: the same resume without restoring the generator must not match
    state, _ = load_checkpoint(cb.path, fingerprint=fp, restore_rng=False)
    control = SoftmaxRegression(**KW).fit(X, y, resume_from=state)
    assert control.coef_.tobytes() != full.coef_.tobytes()


def test_resume_with_other_data_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    X, y = _digits()
    fp = fingerprint([X, y], KW)
    cb = CheckpointCallback(tmp_path, fingerprint=fp, every=2)
    SoftmaxRegression(**{**KW, "epochs": 2}, callbacks=[cb]).fit(X, y)
    with pytest.raises(ModelFileError, match="made with other data or settings"):
        load_checkpoint(cb.path, fingerprint=fingerprint([X[:-1], y[:-1]], KW))
    with pytest.raises(ModelFileError, match="made with other data or settings"):
        load_checkpoint(cb.path, fingerprint=fingerprint([X, y], {**KW, "lr": 0.5}))


def test_checkpoint_is_not_a_model_and_vice_versa(tmp_path) -> None:  # type: ignore
    X, y = _digits()
    cb = CheckpointCallback(tmp_path, fingerprint="f", every=1)
    SoftmaxRegression(**{**KW, "epochs": 1}, callbacks=[cb]).fit(X, y)
    with pytest.raises(ModelFileError, match="expected a 'model' file"):
        load_model(cb.path)
