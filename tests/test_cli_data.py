"""`gdlab fit`, `gdlab predict`, `gdlab evaluate` through the command line.

Most cases run in-process through ``gdlab.cli.main``; every bad-data case runs as a real
subprocess (``python -m gdlab.cli``) and checks the exit code and the single stderr line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.model_selection import train_test_split

from gdlab.cli import main
from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io import load_arrays
from gdlab.workflows.tabular import _split

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixtures


def _regression_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, -3.0]
    color = rng.choice(["red", "green", "blue"], n)
    y = X @ [1.0, -0.2, 5.0] + 1.5 * (color == "red") - 0.7 * (color == "blue")
    y += rng.normal(0, 0.1, n)
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "color": color, "y": y})


def _classes_frame(n: int = 300, k: int = 3, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    W = np.array([[2.0, -1.0, 0.0], [0.0, 2.0, -2.0], [1.0, 0.5, 1.5]])[:, :k]
    names = np.array(["setosa", "versicolor", "virginica"])[:k]
    label = names[np.argmax(X @ W + 0.3 * rng.normal(size=(n, k)), axis=1)]
    return pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "species": label})


@pytest.fixture
def reg_csv(tmp_path: Path) -> Path:
    p = tmp_path / "houses.csv"
    _regression_frame().to_csv(p, index=False)
    return p


@pytest.fixture
def cls_csv(tmp_path: Path) -> Path:
    p = tmp_path / "iris_like.csv"
    _classes_frame().to_csv(p, index=False)
    return p


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _split_rows(df: pd.DataFrame, target: str, classifier: bool, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """The documented split: train_test_split of row positions, stratified for classes."""
    idx = np.arange(len(df))
    tr, te = train_test_split(idx, test_size=0.2, random_state=seed,
                              stratify=df[target].to_numpy() if classifier else None)
    return np.sort(tr), np.sort(te)


# ---------------------------------------------------------------------------------- fit


def test_fit_regression_infers_linear_one_hot_and_matches_least_squares(
        reg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = tmp_path / "m.npz"
    code, out, err = run(capsys, "fit", reg_csv, "--target", "y", "--lr", "0.05",
                         "--batch-size", "full", "--epochs", "3000", "--tol", "none",
                         "--alpha", "0", "--out", model_path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("inferred target 'y': continuous values in [")
    assert lines[0].endswith("-> regression (linear regression); non-integer numbers are "
                             "continuous")
    assert lines[1] == "one-hot encoded: color (3 values)"
    assert "LinearRegression: 240 training rows, 60 held-out" in out
    for label in ("R^2", "MAE", "RMSE", "epochs", "seconds"):
        assert label in out
    assert f"model saved to {model_path}" in out

    # the same split and one-hot columns with ordinary least squares: same held-out R^2
    df = _regression_frame()
    tr, te = _split_rows(df, "y", classifier=False)
    X = pd.get_dummies(df.drop(columns="y"), columns=["color"], dtype=float).to_numpy()
    ols = SkLinear().fit(X[tr], df["y"].to_numpy()[tr])
    r2_ols = metrics.r2_score(df["y"].to_numpy()[te], ols.predict(X[te]))
    code, out, err = run(capsys, "evaluate", model_path, reg_csv, "--json")
    assert code == 0, err
    model = load_model(model_path)
    assert isinstance(model, TabularModel)
    y_hat = model.predict(df.drop(columns="y"))
    held = metrics.r2_score(df["y"].to_numpy()[te], y_hat[te])
    assert held == pytest.approx(r2_ols, abs=2e-4)
    # standardization is inside the model: means/scales of the *training* rows
    enc = model.encoder
    assert enc.standardize and enc.categorical_columns_ == ["color"]
    num = df[["a", "b", "c"]].to_numpy()[tr]
    pos = [enc.feature_names_out_.index(c) for c in ("a", "b", "c")]
    np.testing.assert_allclose(enc.means_[pos], num.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(enc.scales_[pos], num.std(axis=0), rtol=1e-12)
    # evaluate --json on the full file equals sklearn.metrics on the model's predictions
    m = json.loads(out)["metrics"]
    assert m["n"] == 300
    assert m["r2"] == pytest.approx(metrics.r2_score(df["y"], y_hat), rel=1e-12)
    assert m["mae"] == pytest.approx(metrics.mean_absolute_error(df["y"], y_hat), rel=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(df["y"], y_hat)),
                                      rel=1e-12)


def test_fit_json_is_one_object_with_the_metrics(
        cls_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", cls_csv, "-t", "species", "--json", "--lr", "0.1",
                         "--out", tmp_path / "c.npz")
    assert code == 0, err
    doc = json.loads(out)  # the whole of stdout is one JSON object
    assert doc["task"] == "multiclass" and doc["model"] == "SoftmaxRegression"
    assert doc["inferred"] is True
    assert doc["summary"] == ("target 'species': 3 classes ('setosa', 'versicolor', "
                              "'virginica') -> multiclass (softmax regression)")
    assert (doc["n_train"], doc["n_test"]) == (240, 60)
    assert doc["settings"]["lr"] == 0.1 and doc["onehot_columns"] == []
    assert len(doc["loss_curve"]) == doc["epochs"]
    # held-out metrics equal sklearn.metrics on the saved model's predictions
    df = _classes_frame()
    tr, te = _split_rows(df, "species", classifier=True)
    model = load_model(tmp_path / "c.npz")
    X = model.transform(df.drop(columns="species"))
    P = model.estimator.predict_proba(X[te])
    y_te = df["species"].to_numpy()[te]
    y_hat = model.estimator.classes_[P.argmax(axis=1)]
    test = doc["metrics"]["test"]
    assert test["accuracy"] == pytest.approx(metrics.accuracy_score(y_te, y_hat), abs=1e-15)
    assert test["log_loss"] == pytest.approx(
        metrics.log_loss(y_te, P, labels=model.estimator.classes_), rel=1e-12)
    assert test["f1_macro"] == pytest.approx(metrics.f1_score(y_te, y_hat, average="macro"),
                                             rel=1e-12)
    # and the model is as good as scikit-learn's multinomial logistic regression
    sk = SkLogistic(C=1e4, max_iter=2000).fit(X[tr], df["species"].to_numpy()[tr])
    assert test["accuracy"] >= sk.score(X[te], y_te) - 0.02


@pytest.mark.parametrize(("k", "model", "task"), [(2, "LogisticRegression", "binary"),
                                                  (3, "SoftmaxRegression", "multiclass")])
def test_fit_infers_the_classifier_from_the_number_of_classes(
        k: int, model: str, task: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "d.parquet"  # Parquet input as well
    _classes_frame(k=k).to_parquet(p)
    code, out, err = run(capsys, "fit", p, "-t", "species", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["model"], doc["task"]) == (model, task)


def test_csv_and_parquet_give_the_same_model(
        reg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq = tmp_path / "houses.parquet"
    pd.read_csv(reg_csv).to_parquet(pq)
    for src, out in ((reg_csv, "a.npz"), (pq, "b.npz")):
        assert run(capsys, "fit", src, "-t", "y", "--out", tmp_path / out)[0] == 0
    a, _ = load_arrays(tmp_path / "a.npz", kind="model")
    b, _ = load_arrays(tmp_path / "b.npz", kind="model")
    np.testing.assert_allclose(a["coef"], b["coef"], rtol=1e-10)


def test_split_is_deterministic_from_the_seed_and_stratified(
        cls_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coefs = []
    for seed, name in ((0, "s0.npz"), (0, "s0b.npz"), (1, "s1.npz")):
        code, _, err = run(capsys, "fit", cls_csv, "-t", "species", "--seed", str(seed),
                           "--epochs", "20", "--out", tmp_path / name)
        assert code == 0, err
        coefs.append(load_arrays(tmp_path / name, kind="model")[0]["coef"])
    assert coefs[0].tobytes() == coefs[1].tobytes()
    assert coefs[0].tobytes() != coefs[2].tobytes()
    # stratified: each class keeps its share in the held-out rows (to within one row)
    y = np.array(["a"] * 70 + ["b"] * 20 + ["c"] * 10, dtype=object)
    tr, te = _split(100, y, "multiclass", 0.2, seed=3)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(100))
    counts = {c: int((y[te] == c).sum()) for c in "abc"}
    assert counts == {"a": 14, "b": 4, "c": 2}


def test_explicit_model_must_fit_the_target(
        cls_csv: Path, reg_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", cls_csv, "-t", "species", "--model", "logistic")
    assert code == 1 and out == ""
    assert "needs exactly 2 classes but the target column 'species' has 3" in err
    code, _, err = run(capsys, "fit", cls_csv, "-t", "species", "--model", "linear")
    assert code == 1 and "'species' is not numeric; --model linear needs numbers" in err
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--model", "softmax")
    assert code == 1 and "non-integer values (continuous); --model softmax" in err
    code, out, err = run(capsys, "fit", cls_csv, "-t", "species", "--model", "softmax",
                         "--json")
    assert code == 0 and json.loads(out)["inferred"] is False


def test_categorical_error_mode_names_the_column(
        reg_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", reg_csv, "-t", "y", "--categorical", "error")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert f"{reg_csv}: column 'color' is not numeric" in err
    assert "--categorical onehot" in err


def test_no_standardize_keeps_raw_features(
        reg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--no-standardize", "--epochs", "5",
                       "--out", tmp_path / "raw.npz")
    assert code == 0, err
    enc = load_model(tmp_path / "raw.npz").encoder
    assert not enc.standardize
    assert np.all(enc.means_ == 0) and np.all(enc.scales_ == 1)


def test_plot_writes_a_figure(reg_csv: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "loss.png"
    code, out, err = run(capsys, "fit", reg_csv, "-t", "y", "--epochs", "30", "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert f"loss curve written to {png}" in out


def test_not_converging_is_a_warning_on_stderr(
        reg_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--epochs", "3")
    assert code == 0
    assert "gdlab: warning: LinearRegression stopped at the epoch limit epochs=3" in err


def test_schedule_by_name_is_scaled_to_the_epochs(
        reg_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "fit", reg_csv, "-t", "y", "--schedule", "exponential",
                         "--epochs", "20", "--tol", "none", "--lr", "0.1", "--json")
    assert code == 0, err
    lrs = json.loads(out)["lr_curve"]
    # exponential: down to 1 % of the base rate at the end of the run, per epoch
    np.testing.assert_allclose(lrs, 0.1 * 0.01 ** (np.arange(20) / 20), rtol=1e-12)


def test_bad_options_are_one_line(reg_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--batch-size", "zero")
    assert code == 2 and "--batch-size" in err and "'full'" in err
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--schedule", "nosuch")
    assert code == 2 and "'nosuch' is not one of 'constant'," in err
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--resume")
    assert code == 2 and "--resume needs --checkpoint DIR" in err


# ------------------------------------------------------------------- predict and evaluate


@pytest.fixture
def fitted(reg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    m = tmp_path / "model.npz"
    code, _, err = run(capsys, "fit", reg_csv, "-t", "y", "--lr", "0.1", "--out", m)
    assert code == 0, err
    return m


def test_predict_to_stdout_and_to_a_file(
        fitted: Path, reg_csv: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    df = _regression_frame()
    expected = load_model(fitted).predict(df.drop(columns="y"))
    # stdout: the file line of each row and the prediction; the target column is dropped
    code, out, err = run(capsys, "predict", fitted, reg_csv)
    assert code == 0
    assert err.strip() == f"gdlab: ignoring the target column 'y' in {reg_csv}"
    got = pd.read_csv(pd.io.common.StringIO(out))
    assert list(got.columns) == ["line", "predicted_y"]
    assert got["line"].tolist() == list(range(2, 302))
    np.testing.assert_allclose(got["predicted_y"], expected, rtol=1e-15)
    # --out: the table plus the prediction column, columns in any order in the input
    shuffled = tmp_path / "new.csv"
    df.drop(columns="y")[["color", "c", "b", "a"]].to_csv(shuffled, index=False)
    out_csv = tmp_path / "pred.csv"
    code, out, err = run(capsys, "predict", fitted, shuffled, "--out", out_csv)
    assert code == 0 and err == ""
    assert out.strip() == f"wrote 300 predictions (column 'predicted_y') to {out_csv}"
    written = pd.read_csv(out_csv)
    assert list(written.columns) == ["color", "c", "b", "a", "predicted_y"]
    np.testing.assert_allclose(written["predicted_y"], expected, rtol=1e-15)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp


def test_predict_probabilities_of_a_classifier(
        cls_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "c.npz"
    assert run(capsys, "fit", cls_csv, "-t", "species", "--out", m)[0] == 0
    code, out, _ = run(capsys, "predict", m, cls_csv, "--proba")
    assert code == 0
    got = pd.read_csv(pd.io.common.StringIO(out))
    P = got[["proba_setosa", "proba_versicolor", "proba_virginica"]].to_numpy()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    names = np.array(["setosa", "versicolor", "virginica"])
    assert (names[P.argmax(axis=1)] == got["predicted_species"].to_numpy()).all()


def test_missing_and_unexpected_columns_are_listed(
        fitted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _regression_frame()
    missing = tmp_path / "missing.csv"
    df.drop(columns=["b", "color"]).to_csv(missing, index=False)
    for cmd in (["predict", fitted, missing], ["evaluate", fitted, missing]):
        code, out, err = run(capsys, *cmd)
        assert code == 1 and out == "" and err.count("\n") == 1
        assert f"{missing}: missing column(s) 'b', 'color' that the model was trained on" in err
    extra = tmp_path / "extra.csv"
    df.drop(columns="y").assign(zip_code=1, owner="x").to_csv(extra, index=False)
    code, out, err = run(capsys, "predict", fitted, extra)
    assert code == 1 and out == ""
    assert f"{extra}: unexpected column(s) 'zip_code', 'owner' not seen in training" in err
    code, out, _ = run(capsys, "predict", fitted, extra, "--allow-extra")
    assert code == 0 and len(out.splitlines()) == 301


def test_evaluate_errors(fitted: Path, reg_csv: Path, cls_csv: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", fitted, reg_csv, "--target", "price")
    assert code == 1 and f"{reg_csv}: no target column 'price'" in err
    code, _, err = run(capsys, "evaluate", tmp_path / "none.npz", reg_csv)
    assert code == 1 and "none.npz: no such model file" in err
    # a class the model never saw
    m = tmp_path / "c.npz"
    df = _classes_frame()
    two = tmp_path / "two.csv"
    df[df.species != "virginica"].to_csv(two, index=False)
    assert run(capsys, "fit", two, "-t", "species", "--out", m)[0] == 0
    code, _, err = run(capsys, "evaluate", m, cls_csv)
    assert code == 1 and "class(es) 'virginica' the model was not trained on" in err
    code, out, _ = run(capsys, "evaluate", m, two)
    assert code == 0 and "accuracy" in out and "F1 (macro)" in out


# ----------------------------------------------------------- bad data, real subprocesses


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gdlab.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


BAD_FILES = {
    # name: (content, target, what the one line must contain besides the file name)
    "nan.csv": ("a,b,y\n1,2,3\n4,,5\n7,8,9\n1,1,1\n", "y",
                "column 'b' has a missing value (empty or NaN) at line 3"),
    "inf.csv": ("a,b,y\n1,2,3\n4,5,6\n7,-inf,9\n1,1,1\n", "y",
                "column 'b' has an infinite value (-inf) at line 4"),
    "empty.csv": ("", "y", "the file is empty"),
    "text.csv": ("a,b,y\n" + "".join(f"{i},{i % 7},{i % 3}\n" for i in range(1, 30))
                 + "30,seven,1\n", "y", "column 'b' is numeric but line 31 holds 'seven'"),
    "ragged.csv": ("a,b,y\n1,2,3\n4,5\n7,8,9\n", "y",
                   "line 3 has 2 fields but the header has 3"),
    "single.csv": ("a,b,y\n1,2,0\n4,5,0\n7,8,0\n", "y",
                   "the target column 'y' has a single class 0"),
    "target.csv": ("a,b,y\n1,2,3\n4,5,6\n", "price", "no target column 'price'"),
    "dup.csv": ("a,b,a,y\n1,2,3,4\n4,5,6,7\n", "y", "duplicate column name 'a'"),
    "missing.csv": (None, "y", "no such file"),
}


@pytest.mark.slow
def test_bad_data_each_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    for name, (content, _, _) in BAD_FILES.items():
        if content is not None:
            (tmp_path / name).write_text(content)

    def go(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return name, _cli("fit", name, "--target", BAD_FILES[name][1], cwd=tmp_path)

    with ThreadPoolExecutor(max_workers=3) as pool:  # subprocesses: startup time dominates
        results = list(pool.map(go, BAD_FILES))
    for name, proc in results:
        expected = BAD_FILES[name][2]
        assert proc.returncode == 1, (name, proc.stderr)
        assert proc.stdout == "", name
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, (name, proc.stderr)
        assert lines[0].startswith(f"gdlab: error: {name}: "), lines[0]
        assert expected in lines[0], (name, lines[0])
        assert lines[0].endswith("(run with --debug for the traceback)")
        assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "nan.csv").write_text(BAD_FILES["nan.csv"][0] or "")
    proc = _cli("--debug", "fit", "nan.csv", "--target", "y", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    assert "DataFileError: nan.csv: column 'b' has a missing value" in proc.stderr


@pytest.mark.slow
def test_fit_predict_evaluate_through_a_real_subprocess(tmp_path: Path) -> None:
    _classes_frame(k=2).to_csv(tmp_path / "d.csv", index=False)
    fit = _cli("fit", "d.csv", "-t", "species", "--out", "m.npz", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert fit.stdout.startswith("inferred target 'species': 2 classes ('setosa', "
                                 "'versicolor') -> binary (logistic regression)")
    assert "model saved to m.npz" in fit.stdout
    pred = _cli("predict", "m.npz", "d.csv", "--out", "p.csv", cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    got = pd.read_csv(tmp_path / "p.csv")
    truth = _classes_frame(k=2)["species"]
    assert (got["predicted_species"] == truth).mean() > 0.9
    ev = _cli("evaluate", "m.npz", "d.csv", "--json", cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    acc = json.loads(ev.stdout)["metrics"]["accuracy"]
    assert acc == pytest.approx((got["predicted_species"] == truth).mean(), abs=1e-15)
