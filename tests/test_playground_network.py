"""`gdlab playground --network` without a browser: the snapshots are a real fit's (each equals
a separate fit stopped after that many epochs), the page's encoded maps decode to them within
quantization, the page stays small and self-contained, the model file beside it predicts, and
bad tables are one line naming the file. (tests/test_playground_network_browser.py runs the
page.)"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from gdlab.estimators.mlp import MLPClassifier
from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io.tables import DataFileError
from gdlab.playground.network import (
    GRID,
    UNIT_GRID,
    build_network_spec,
    network_data,
    snapshot_epochs,
    train_network,
    write_network_playground,
)


@pytest.fixture(scope="module")
def replay():  # type: ignore[no-untyped-def]
    return train_network(network_data("xor", samples=200, seed=3), hidden=(4, 3), epochs=25,
                         seed=3)


def _decode(spec: dict) -> np.ndarray:
    """The page's maps as (n_snapshots, bytes per snapshot) uint8, filters undone."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(spec["maps"])), dtype=np.uint8)
    D = raw.reshape(len(spec["epochs"]), -1)
    T = np.cumsum(D, axis=1, dtype=np.uint8)  # cumsum in uint8 wraps mod 256
    return np.cumsum(T, axis=0, dtype=np.uint8)


def test_snapshot_epochs_keep_every_epoch_or_an_even_spread() -> None:
    assert snapshot_epochs(5) == [0, 1, 2, 3, 4, 5]
    assert snapshot_epochs(100) == list(range(101))
    e = snapshot_epochs(400)
    assert len(e) == 101 and e[:3] == [0, 4, 8] and e[-1] == 400
    assert snapshot_epochs(1000, 11) == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]


def test_each_snapshot_is_the_network_after_that_many_epochs(replay) -> None:  # type: ignore[no-untyped-def]
    data = replay.data
    assert len(replay.thetas) == 26 and replay.train_loss.shape == (26,)
    assert (len(replay.train), len(replay.test)) == (160, 40)
    # a separate fit of the same network stopped after 7 epochs has the same weights, and
    # its predict_proba on the grid is the replay's map of epoch 7
    Xs = replay.encode(data.X)
    seven = MLPClassifier((4, 3), activation="tanh", lr=0.01, batch_size=16, epochs=7,
                          tol=None, random_state=3).fit(Xs[replay.train], data.y[replay.train])
    theta7 = seven.model_.pack(seven.coefs_, seven.intercepts_)
    np.testing.assert_array_equal(replay.thetas[7], theta7)
    xs, ys = replay.axes(GRID)
    xx, yy = np.meshgrid(xs, ys)
    plane = replay.encode(np.column_stack([xx.ravel(), yy.ravel()]))
    np.testing.assert_allclose(replay.proba_map(7), seven.predict_proba(plane)[:, 1]
                               .reshape(GRID, GRID), rtol=0, atol=1e-12)
    # the last snapshot is the fitted estimator; the losses are scikit-learn's log-loss
    est = replay.estimator
    np.testing.assert_array_equal(replay.thetas[-1], est.model_.pack(est.coefs_,
                                                                     est.intercepts_))
    for rows, curve in ((replay.train, replay.train_loss), (replay.test, replay.test_loss)):
        want = log_loss(data.y[rows], est.predict_proba(Xs[rows]), labels=est.classes_)
        assert curve[-1] == pytest.approx(want, rel=1e-9)
    # before training: small weights, outputs near 1/2, a loss near ln 2
    assert 0.6 < replay.train_loss[0] < 0.8 and replay.train_loss[-1] < replay.train_loss[0]
    # every hidden unit's map is that layer's output on the unit grid
    maps = replay.unit_maps(7)
    assert [m.shape for m in maps] == [(4, UNIT_GRID, UNIT_GRID), (3, UNIT_GRID, UNIT_GRID)]
    xs, ys = replay.axes(UNIT_GRID)
    W, b = seven.coefs_[0], seven.intercepts_[0]
    point = replay.encode(np.array([[xs[5], ys[20]]]))
    np.testing.assert_allclose(maps[0][:, 20, 5], np.tanh(point @ W + b)[0], atol=1e-12)


def test_the_page_s_bytes_decode_to_the_maps_within_quantization(replay) -> None:  # type: ignore[no-untyped-def]
    spec = build_network_spec(replay)
    assert spec["epochs"] == list(range(26)) and spec["layers"] == [4, 3]
    per = GRID * GRID + 7 * UNIT_GRID * UNIT_GRID
    assert spec["maps_bytes"] == 26 * per
    A = _decode(spec)
    for i in (0, 9, 25):
        proba = A[i, :GRID * GRID].reshape(GRID, GRID) / 255.0
        np.testing.assert_allclose(proba, replay.proba_map(i), atol=0.5 / 255 + 1e-12)
        units = np.concatenate(replay.unit_maps(i))
        for u in range(7):
            lo, hi = spec["ranges"][i][u]
            q = A[i, GRID * GRID + u * UNIT_GRID ** 2:GRID * GRID + (u + 1) * UNIT_GRID ** 2]
            values = lo + q.reshape(UNIT_GRID, UNIT_GRID) * (hi - lo) / 255.0
            tol = 0.5 * (hi - lo) / 255 + 1e-6 * max(abs(lo), abs(hi))
            np.testing.assert_allclose(values, units[u], atol=tol)
    # the links of the drawing: every weight matrix, row-major, layer by layer
    for i in (0, 25):
        Ws = [W for W, _ in replay.estimator.model_.unpack(replay.thetas[i])]
        assert [W.shape for W in Ws] == [(2, 4), (4, 3), (3, 1)]
        np.testing.assert_allclose(spec["weights"][i], np.concatenate([W.ravel() for W in Ws]),
                                   rtol=5e-4)
    assert spec["loss"]["train"][25] == pytest.approx(replay.train_loss[25], rel=1e-6)
    assert spec["points"]["label"] == (replay.data.y == 1).astype(int).tolist()
    assert sum(spec["points"]["test"]) == 40


def test_the_default_page_is_small_self_contained_and_its_model_predicts(tmp_path: Path) -> None:
    data = network_data("spirals")
    rep = train_network(data)  # the defaults: 8-8 tanh, 400 epochs, 101 snapshots shown
    page, model_path = write_network_playground(rep, tmp_path / "spirals.html")
    assert model_path == tmp_path / "spirals.npz"
    text = page.read_text()
    # 101 snapshots of a 60 x 60 output map and 16 maps of 30 x 30: 1.82 MB of bytes, about
    # 0.8 MB in the page after deflate and base64; the weights of the links ~70 kB
    assert 600_000 < len(text) < 1_000_000, len(text)
    assert "http://" not in text and "https://" not in text and not re.search(r"\bsrc\s*=", text)
    assert "fetch(" not in text and "XMLHttpRequest" not in text and "{{" not in text
    assert re.findall(r"<link[^>]*>", text) == ['<link rel="icon" href="data:,">']
    spec = json.loads(re.search(r"var GDLAB_NETWORK = (\{.*?\});\n", text).group(1))  # type: ignore[union-attr]
    assert len(spec["epochs"]) == 101 and spec["epochs"][-1] == 400
    assert spec["model_file"] == "spirals.npz" and spec["accuracy"]["test"] > 0.95
    model = load_model(model_path)
    assert isinstance(model, TabularModel) and model.target == "label"
    df = pd.DataFrame({"x1": data.X[:, 0], "x2": data.X[:, 1]})
    np.testing.assert_array_equal(model.predict(df), rep.estimator.predict(rep.encode(data.X)))


def test_a_wide_network_gets_fewer_snapshots_in_the_same_budget() -> None:
    rep = train_network(network_data("circles", samples=100), hidden=(40, 40), epochs=200)
    spec = build_network_spec(rep)
    per = GRID * GRID + 80 * UNIT_GRID * UNIT_GRID
    assert len(spec["epochs"]) == 2_000_000 // per == 26 and spec["epochs"][-1] == 200
    assert spec["maps_bytes"] <= 2_000_000


def test_test_size_zero_trains_on_every_point() -> None:
    rep = train_network(network_data("gaussians", samples=60), hidden=(3,), epochs=40,
                        test_size=0)
    assert len(rep.train) == 60 and len(rep.test) == 0 and np.isnan(rep.test_loss).all()
    spec = build_network_spec(rep)
    assert spec["n_test"] == 0 and spec["loss"]["test"] == [None] * 41
    assert spec["accuracy"]["test"] is None and spec["accuracy"]["train"] > 0.9
    json.dumps(spec, allow_nan=False)


def _table(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_tables_must_be_two_numeric_features_and_two_classes(tmp_path: Path) -> None:
    rows = "\n".join(f"{i % 7},{i % 5},{i % 3},{'ab'[i % 2]}" for i in range(20))
    three = _table(tmp_path / "three.csv", "a,b,c,label\n" + rows + "\n")
    with pytest.raises(DataFileError, match=r"three.csv: the network page draws two numeric "
                       r"feature columns .* the file has 3: 'a', 'b', 'c'\. Keep exactly two"):
        network_data(str(three))
    text = _table(tmp_path / "text.csv", "a,b,label\n" + "\n".join(
        f"{i},{'xy'[i % 2]},{i % 2}" for i in range(10)) + "\n")
    with pytest.raises(DataFileError, match=r"has 2: 'a', 'b' \(not numeric\)"):
        network_data(str(text))
    classes = _table(tmp_path / "classes.csv", "a,b,kind\n" + "\n".join(
        f"{i},{i * i},{'pqr'[i % 3]}" for i in range(12)) + "\n")
    with pytest.raises(DataFileError, match=r"no column named 'label'; pass --target COL"):
        network_data(str(classes))
    with pytest.raises(DataFileError, match=r"target column 'kind' has 3 class\(es\) \('p', "
                       r"'q', 'r'\); the network page draws two classes"):
        network_data(str(classes), target="kind")
    gap = _table(tmp_path / "gap.csv", "a,b,label\n1,2,0\n3,,1\n4,5,0\n")
    with pytest.raises(DataFileError, match=r"gap.csv: column 'b' has a missing value .* at "
                       r"line 3"):
        network_data(str(gap))
    with pytest.raises(ValueError, match=r"Unknown data set 'cirlces' \(did you mean "
                       r"'circles'\?\)"):
        network_data("cirlces")
    ok = _table(tmp_path / "ok.csv", "height,weight,sick\n" + "\n".join(
        f"{i},{(i * 7) % 11},{'yn'[i % 2]}" for i in range(30)) + "\n")
    data = network_data(str(ok), target="sick")
    assert data.feature_names == ["height", "weight"] and data.X.shape == (30, 2)
    assert data.recipe == str(ok) and data.name == "ok.csv"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdlab.cli", "playground", *args],
                          capture_output=True, text=True, check=False, timeout=300, cwd=cwd)


@pytest.mark.parametrize("name", ["circles", "xor", "gaussians", "spirals"])
def test_cli_writes_a_page_and_a_model_for_every_data_set(tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.html"
    proc = _cli("--network", name, "--hidden", "6,4", "--activation", "relu", "--epochs", "30",
                "--samples", "120", "--noise", "0.2", "--seed", "5", "--lr", "0.02",
                "--optimizer", "momentum", "--batch-size", "full", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"trained MLPClassifier [6, 4] on {name} (96 training, 24 test "
                               "points, 30 epochs): train accuracy ")
    assert lines[1].startswith(f"wrote {out} (") and f"the model {out.with_suffix('.npz')}" \
        in lines[1]
    spec = json.loads(re.search(r"var GDLAB_NETWORK = (\{.*?\});\n",  # type: ignore[union-attr]
                                out.read_text()).group(1))
    assert spec["layers"] == [6, 4] and spec["settings"]["activation"] == ["relu", "relu"]
    assert spec["settings"]["optimizer"] == "momentum" and spec["settings"]["batch_size"] is None
    assert len(spec["points"]["x"]) == 120 and spec["epochs"] == list(range(31))
    assert spec["recipe"] == (f"gdlab dataset {name} --samples 120 --noise 0.2 --seed 5 "
                              f"--out {name}.csv")
    assert load_model(out.with_suffix(".npz")).estimator.coefs_[0].shape == (2, 6)


def test_cli_reads_a_table_and_gdlab_predict_takes_the_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 2)) * [3.0, 0.5] + [10.0, -2.0]
    label = np.where(X[:, 0] - 10 + 4 * (X[:, 1] + 2) > 0, "yes", "no")
    pd.DataFrame({"temp": X[:, 0], "wind": X[:, 1], "rain": label}).to_csv(
        tmp_path / "weather.csv", index=False)
    proc = _cli("--network", "weather.csv", "--target", "rain", "--epochs", "60",
                "--out", "rain.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "on weather.csv (120 training, 30 test points, 60 epochs)" in proc.stdout
    spec = json.loads(re.search(r"var GDLAB_NETWORK = (\{.*?\});\n",  # type: ignore[union-attr]
                                (tmp_path / "rain.html").read_text()).group(1))
    assert spec["features"] == ["temp", "wind"] and spec["classes"] == ["no", "yes"]
    assert spec["accuracy"]["test"] > 0.9
    # the box is the data's, 5 % wider on each side
    span = X.max(axis=0) - X.min(axis=0)
    np.testing.assert_allclose(spec["box"][0], [X[:, 0].min() - 0.05 * span[0],
                                                X[:, 0].max() + 0.05 * span[0]])
    pred = subprocess.run([sys.executable, "-m", "gdlab.cli", "predict", "rain.npz",
                           "weather.csv"], capture_output=True, text=True, check=False,
                          timeout=120, cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    predicted = pd.read_csv(__import__("io").StringIO(pred.stdout))["predicted_rain"]
    assert (predicted.to_numpy() == label).mean() > 0.9


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--network", "spiral"], 1, "Unknown data set 'spiral' (did you mean 'spirals'?)"),
    (["--network", "missing.csv"], 1, "missing.csv: no such file; check the path."),
    (["--network", "three.csv"], 1, "three.csv: the network page draws two numeric feature "
     "columns"),
    (["--network", "three.csv", "--samples", "50"], 2, "--samples and --noise make a data set"),
    (["--network", "xor", "--target", "y"], 2, "--target reads a table"),
    (["--network", "xor", "--hidden", "4,x"], 2, "must be positive integers separated by "
     "commas"),
    (["--network", "xor", "--batch-size", "auto"], 2, "must be a positive integer or 'full'"),
    (["--network", "xor", "--lr", "-1"], 2, "must be a positive number"),
    (["--network", "xor", "--activation", "swish"], 1, "swish"),
    (["--network", "xor", "--out", "page.png"], 2, "must end in .html or .htm"),
    (["peaks", "--network", "xor"], 2, "leave out FUNCTION, --vars and --domain"),
    (["peaks", "--hidden", "3", "--seed", "1"], 2, "--hidden, --seed: only with --network DATA"),
    ([], 2, "Missing FUNCTION"),
])
def test_bad_network_input_is_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str],
                                                           code: int, message: str) -> None:
    (tmp_path / "three.csv").write_text("a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,9,0\n")
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdlab: error:"), proc.stderr
    assert message in lines[0]
    assert not list(tmp_path.glob("*.html")) and not list(tmp_path.glob("*.npz"))
