"""`gdlab export`: a fitted network as a torch state_dict (loaded with weights_only=True into
the matching nn.Sequential) and as JSON, both giving the estimator's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.preprocessing import StandardScaler

import gdlab
from gdlab.cli import main
from gdlab.workflows.export import export_model, network_layers

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACT = {"identity": "Identity", "relu": "ReLU", "leaky_relu": "LeakyReLU", "elu": "ELU",
       "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU"}


def _estimators():  # type: ignore[no-untyped-def]
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xd, yd = load_diabetes(return_X_y=True)
    return [
        (gdlab.MLPClassifier((6, 5), activation=["gelu", "leaky_relu"], epochs=20,
                             random_state=0).fit(X, y), X),
        (gdlab.MLPClassifier((4,), activation="elu", epochs=20, random_state=0).fit(
            X[:100], y[:100]), X[:100]),
        (gdlab.MLPRegressor((7,), activation="tanh", epochs=20, random_state=0).fit(Xd, yd), Xd),
        (gdlab.SoftmaxRegression(epochs=20, random_state=0).fit(X, y), X),
    ]


def _outputs(est, X):  # type: ignore[no-untyped-def]
    """What the exported network must compute: logits, or predictions for a regressor."""
    if hasattr(est, "classes_"):
        z = est._logits(X)
        return z
    return est.predict(X).reshape(len(X), -1)


def _json_forward(doc, X):  # type: ignore[no-untyped-def]
    from gdlab.core.activations import get_activation

    A = X
    for layer in doc["layers"]:
        A = A @ np.asarray(layer["weight"]).T + np.asarray(layer["bias"])
        if layer["activation"] is not None:
            A = get_activation(layer["activation"]).f(A)
    return A


@pytest.mark.parametrize("case", range(4))
def test_json_export_computes_the_estimator(case: int, tmp_path: Path) -> None:
    est, X = _estimators()[case]
    path = export_model(est, tmp_path / "net.json", to="json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "gdlab-network-v1"
    np.testing.assert_allclose(_json_forward(doc, X), _outputs(est, X), rtol=1e-10, atol=1e-9)


@pytest.mark.torch
@pytest.mark.parametrize("case", range(4))
def test_torch_export_loads_into_nn_sequential(case: int, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    est, X = _estimators()[case]
    path = export_model(est, tmp_path / "net.pt", to="torch")
    modules = []
    for W, _, act in network_layers(est)[0]:
        modules.append(nn.Linear(W.shape[0], W.shape[1], dtype=torch.float64))
        if act is not None:
            modules.append(getattr(nn, ACT[act])())
    net = nn.Sequential(*modules)
    net.load_state_dict(torch.load(path, weights_only=True))
    with torch.no_grad():
        out = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, _outputs(est, X), rtol=1e-10, atol=1e-9)


def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    est, X = _estimators()[0]
    model = tmp_path / "net.npz"
    est.save(model)
    assert main(["export", str(model), "--to", "json"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'net.json'} (json)" in out
    assert ("torch.nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 5), "
            "nn.LeakyReLU(0.01), nn.Linear(5, 3)); head: softmax") in out
    doc = json.loads((tmp_path / "net.json").read_text())
    np.testing.assert_allclose(_json_forward(doc, X), _outputs(est, X), rtol=1e-10, atol=1e-9)
    assert main(["export", str(tmp_path / "missing.npz")]) == 1
    assert "no such model file" in capsys.readouterr().err


def test_cli_dataset_writes_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    out = tmp_path / "spirals.csv"
    assert main(["dataset", "spirals", "--out", str(out), "--samples", "50", "--noise",
                 "0.1", "--seed", "3"]) == 0
    assert "fit with: gdlab fit" in capsys.readouterr().out
    df = pd.read_csv(out)
    X, y = gdlab.datasets.make_spirals(50, noise=0.1, random_state=3)
    assert list(df.columns) == ["x1", "x2", "label"]
    np.testing.assert_allclose(df[["x1", "x2"]].to_numpy(), X, rtol=1e-15)
    np.testing.assert_array_equal(df["label"].to_numpy(), y)
    assert main(["dataset", "moons", "--out", str(out)]) != 0


def test_predict_and_evaluate_commands_on_a_saved_network(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A network saved with its column encoder (as `gdlab fit` saves models) serves
    `gdlab predict` and `gdlab evaluate`."""
    import pandas as pd

    from gdlab.estimators.persist import TabularModel
    from gdlab.io.tables import FeatureEncoder

    data = tmp_path / "spirals.csv"
    assert main(["dataset", "spirals", "--out", str(data), "--samples", "300", "--noise",
                 "0.1"]) == 0
    df = pd.read_csv(data)
    X_df, y = df[["x1", "x2"]], df["label"].to_numpy()
    encoder = FeatureEncoder(standardize=True).fit(X_df)
    X = encoder.transform(X_df)
    est = gdlab.MLPClassifier((32, 32), activation="tanh", lr=0.01, batch_size=32, epochs=400,
                              tol=None, random_state=0).fit(X, y)
    model = tmp_path / "net.npz"
    TabularModel(est, encoder, "label", "binary").save(model)
    capsys.readouterr()
    assert main(["evaluate", str(model), str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["accuracy"] == pytest.approx(est.score(X, y), abs=1e-12)
    assert doc["metrics"]["accuracy"] > 0.95
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(data), "--out", str(out), "--proba"]) == 0
    pred = pd.read_csv(out)
    np.testing.assert_array_equal(pred["predicted_label"].to_numpy(), est.predict(X))
    np.testing.assert_allclose(pred["proba_1"].to_numpy(), est.predict_proba(X)[:, 1],
                               rtol=1e-12)
