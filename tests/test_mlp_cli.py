"""`gdlab fit --model mlp`: a network from a table, saved with its encoder, served by
predict / evaluate / export, checkpointed and resumed byte-identically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gdlab
from gdlab.cli import main

NET = ["--model", "mlp", "--hidden", "32,32", "--activation", "tanh", "--lr", "0.01",
       "--batch-size", "32", "--tol", "none"]


@pytest.fixture(scope="module")
def spirals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "spirals.csv"
    assert main(["dataset", "spirals", "--out", str(path), "--samples", "600", "--noise",
                 "0.15"]) == 0
    return path


def _fit_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    code = main(["fit", *args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


def test_fit_a_network_on_spirals(spirals: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net.npz"
    doc = _fit_json(capsys, str(spirals), "--target", "label", *NET, "--epochs", "600",
                    "--baseline", "--out", str(out))
    assert doc["model"] == "MLPClassifier" and doc["task"] == "binary"
    assert "a network: MLPClassifier" in doc["summary"]
    # measured: held-out accuracy 1.0, scikit-learn's logistic regression 0.508
    assert doc["metrics"]["test"]["accuracy"] > 0.95
    assert doc["baseline"]["test"]["accuracy"] < 0.65
    net = gdlab.load(out)
    assert [W.shape for W in net.estimator.coefs_] == [(2, 32), (32, 32), (32, 1)]
    assert net.estimator.activations_ == ("tanh", "tanh")
    capsys.readouterr()
    assert main(["evaluate", str(out), str(spirals), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["accuracy"] > 0.95
    assert main(["export", str(out), "--to", "json", "--out", str(tmp_path / "net.json")]) == 0
    assert "nn.Linear(2, 32), nn.Tanh()" in capsys.readouterr().out


def test_fit_a_network_regressor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    data = tmp_path / "diabetes.csv"
    frame.to_csv(data, index=False)
    doc = _fit_json(capsys, str(data), "--target", "target", "--model", "mlp", "--hidden",
                    "16", "--activation", "relu", "--epochs", "100", "--baseline")
    assert doc["model"] == "MLPRegressor" and doc["task"] == "regression"
    # the target (25..346) on its own scale: R^2 near the closed-form linear baseline
    assert doc["metrics"]["test"]["r2"] > doc["baseline"]["test"]["r2"] - 0.15
    assert isinstance(pd.read_csv(data), pd.DataFrame)


def test_checkpoint_resume_of_a_network_is_byte_identical(
        spirals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from gdlab.io import checkpoint

    args = [str(spirals), "--target", "label", *NET, "--dropout", "0.1", "--epochs", "6"]
    _fit_json(capsys, *args, "--out", str(tmp_path / "full.npz"))
    ck = tmp_path / "ck"
    save = checkpoint.CheckpointCallback.__call__

    def stop_after_3(self, state, record):  # type: ignore[no-untyped-def]
        save(self, state, record)
        if state.epoch == 3:
            raise KeyboardInterrupt  # the run is interrupted after its third checkpoint

    with monkeypatch.context() as m:
        m.setattr(checkpoint.CheckpointCallback, "__call__", stop_after_3)
        assert main(["fit", *args, "--checkpoint", str(ck)]) == 130  # "gdlab: aborted."
    doc = _fit_json(capsys, *args, "--checkpoint", str(ck), "--resume",
                    "--out", str(tmp_path / "resumed.npz"))
    assert doc["resumed_from_epoch"] == 3
    full, resumed = gdlab.load(tmp_path / "full.npz"), gdlab.load(tmp_path / "resumed.npz")
    for a, b in zip(full.estimator.coefs_, resumed.estimator.coefs_, strict=True):
        assert a.tobytes() == b.tobytes()
    # another architecture is another run: the checkpoint is refused
    capsys.readouterr()
    bad = [a if a != "32,32" else "16" for a in args]
    assert main(["fit", *bad, "--checkpoint", str(ck), "--resume"]) == 1
    assert "made with other data or settings" in capsys.readouterr().err


def test_network_options_need_model_mlp(spirals: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert main(["fit", str(spirals), "--target", "label", "--hidden", "8"]) != 0
    assert "add --model mlp" in capsys.readouterr().err
    assert main(["fit", str(spirals), "--target", "label", "--model", "mlp", "--hidden",
                 "8,x"]) != 0
    assert "positive integers separated by commas" in capsys.readouterr().err
    assert main(["fit", str(spirals), "--target", "label", "--model", "mlp", "--activation",
                 "swish"]) != 0
    assert "'activation' parameter of MLPClassifier must be one of" in capsys.readouterr().err
