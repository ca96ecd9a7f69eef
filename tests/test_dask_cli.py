"""`gdlab fit --engine dask` and `gdlab predict --engine dask` on directories of files.

The fits run on the session's LocalCluster (``--scheduler ADDRESS``) and are compared with
the in-memory command on the same rows in one file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from gdlab.cli import main  # noqa: E402
from gdlab.workflows.tabular import load_tabular_model  # noqa: E402


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _frames(n_files: int = 3, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_files):
        n = 200 + 37 * i
        a, b = rng.normal(size=n), rng.normal(50, 10, size=n)
        color = rng.choice(["red", "green", "blue"], size=n)
        z = a + 0.1 * (b - 50) + 1.0 * (color == "red") + 0.5 * rng.normal(size=n)
        frames.append(pd.DataFrame({"a": a, "b": b, "color": color,
                                    "label": np.where(z > 0.2, "pos", "neg")}))
    return frames


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    d = tmp_path / "parts"
    d.mkdir()
    for i, df in enumerate(_frames()):
        if i == 1:
            df.to_csv(d / f"part{i}.csv", index=False)  # formats may be mixed
        else:
            df.to_parquet(d / f"part{i}.parquet", index=False)
    return d


SETTINGS = ["--batch-size", "full", "--epochs", "20", "--tol", "none", "--test-size", "0",
            "--optimizer", "adam", "--lr", "0.05"]


@pytest.mark.parametrize("keep", ["auto", "--persist", "--no-persist", "--cache-dir"])
def test_fit_on_a_directory_equals_the_in_memory_fit(table_dir, tmp_path, capsys, dask_client,
                                                     keep):
    extra = {"auto": [], "--cache-dir": ["--cache-dir", tmp_path / "cache"]}.get(keep, [keep])
    code, out, err = run(capsys, "fit", table_dir, "-t", "label", "--engine", "dask",
                         "--scheduler", dask_client.scheduler.address, *SETTINGS, *extra,
                         "--out", tmp_path / "dask.npz")
    assert code == 0, err
    assert f"connected to the Dask scheduler at {dask_client.scheduler.address}" in out
    assert "2 classes ('neg', 'pos') -> binary" in out
    assert "workers' memory" not in out  # a few kB: kept in memory unless asked
    assert (tmp_path / "cache").is_dir() == (keep == "--cache-dir")
    whole = tmp_path / "whole.parquet"
    pd.concat(_frames(), ignore_index=True).to_parquet(whole, index=False)
    code, _, err = run(capsys, "fit", whole, "-t", "label", *SETTINGS,
                       "--out", tmp_path / "memory.npz")
    assert code == 0, err
    on_dask = load_tabular_model(tmp_path / "dask.npz")
    in_memory = load_tabular_model(tmp_path / "memory.npz")
    # the same model file: encoder (one-hot vocabulary, means, scales) and coefficients
    assert on_dask.encoder.to_meta() == in_memory.encoder.to_meta()
    np.testing.assert_allclose(on_dask.encoder.means_, in_memory.encoder.means_, rtol=1e-12)
    np.testing.assert_allclose(on_dask.encoder.scales_, in_memory.encoder.scales_, rtol=1e-12)
    a, b = on_dask.estimator, in_memory.estimator
    assert list(a.classes_) == list(b.classes_)
    rel = np.linalg.norm(a.coef_ - b.coef_) / np.linalg.norm(b.coef_)
    assert rel < 1e-8
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-8)


def test_predict_writes_a_parquet_directory(table_dir, tmp_path, capsys, dask_client):
    addr = dask_client.scheduler.address
    assert run(capsys, "fit", table_dir, "-t", "label", "--engine", "dask", "--scheduler",
               addr, *SETTINGS, "--out", tmp_path / "m.npz")[0] == 0
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", str(table_dir / "part*"),
                         "--engine", "dask", "--scheduler", addr, "--proba",
                         "--out", tmp_path / "pred")
    assert code == 0, err
    n = sum(len(f) for f in _frames())
    assert f"wrote {n} predictions from 3 file(s) to the Parquet directory" in out
    got = pd.read_parquet(tmp_path / "pred")
    model = load_tabular_model(tmp_path / "m.npz")
    want = pd.concat(_frames(), ignore_index=True)
    np.testing.assert_array_equal(got["predicted_label"], model.predict(want.drop(
        columns=["label"])))
    P = model.estimator.predict_proba(model.transform(want.drop(columns=["label"])))
    np.testing.assert_allclose(got[["proba_neg", "proba_pos"]].to_numpy(), P, rtol=1e-12)


def test_a_bad_cell_gives_the_in_memory_error_naming_the_file(tmp_path, capsys,
                                                              dask_client):
    d = tmp_path / "bad"
    d.mkdir()
    frames = _frames()
    frames[2].loc[17, "b"] = np.nan
    for i, df in enumerate(frames):
        df.to_csv(d / f"part{i}.csv", index=False)
    code, _, err_memory = run(capsys, "fit", d / "part2.csv", "-t", "label")
    assert code == 1
    code, _, err_dask = run(capsys, "fit", d, "-t", "label", "--engine", "dask",
                            "--scheduler", dask_client.scheduler.address)
    assert code == 1
    assert err_dask == err_memory
    assert str(d / "part2.csv") in err_dask and "line 19" in err_dask


def test_without_a_scheduler_it_starts_a_local_cluster_and_says_so(table_dir, tmp_path,
                                                                   capsys):
    code, out, err = run(capsys, "fit", table_dir, "-t", "label", "--engine", "dask",
                         "--workers", "1", *SETTINGS, "--epochs", "2",
                         "--out", tmp_path / "m.npz")
    assert code == 0, err
    first = out.splitlines()[0]
    assert re.fullmatch(r"started a Dask LocalCluster of 1 worker process \(dashboard: "
                        r"http://[\w.\-]+:\d+/status\)", first), first
    assert "LogisticRegression: 711 training rows, 0 held-out" in out
    assert load_tabular_model(tmp_path / "m.npz").estimator.n_iter_ == 2


def test_fit_files_with_a_cache_of_encoded_blocks_gives_the_same_model(table_dir, tmp_path,
                                                                       dask_client):
    from gdlab.workflows.dask_tabular import fit_files
    from gdlab.workflows.tabular import UNLIMITED, FitSettings

    s = FitSettings(batch_size="full", epochs=5, tol=UNLIMITED, optimizer="adam", lr=0.05,
                    test_size=0.25)
    addr = dask_client.scheduler.address
    plain = fit_files(table_dir, "label", s, scheduler=addr, persist=False)
    cache = tmp_path / "cache"
    first = fit_files(table_dir, "label", s, scheduler=addr, persist=False, cache_dir=cache)
    written = sorted(cache.iterdir())
    # X and y of the training and held-out rows of each of the 3 files
    assert len(written) == 12 and all(f.name.endswith((".X.npy", ".y.npy")) for f in written)
    stamps = [f.stat().st_mtime_ns for f in written]
    again = fit_files(table_dir, "label", s, scheduler=addr, persist=False, cache_dir=cache)
    assert sorted(cache.iterdir()) == written
    assert [f.stat().st_mtime_ns for f in written] == stamps  # loaded, not written again
    for res in (first, again):
        np.testing.assert_array_equal(res.model.estimator.coef_, plain.model.estimator.coef_)
        assert res.metrics == plain.metrics


def test_numeric_files_are_encoded_in_place_column_major_and_fit_as_in_memory(tmp_path,
                                                                           dask_client):
    """Plain numeric columns: each file's block is pandas' own column-major memory, scaled
    in place (no matrix allocated), with the in-memory encoder's values; the fit re-reading
    the files every pass (the fused column-major kernel) equals the in-memory fit."""
    from gdlab.workflows.dask_tabular import encode_file, fit_files
    from gdlab.workflows.tabular import UNLIMITED, FitSettings, fit_table

    rng = np.random.default_rng(3)
    d = tmp_path / "numeric"
    d.mkdir()
    frames = []
    for i in range(3):
        X = rng.normal(2.0, 3.0, size=(2500 + 100 * i, 6))
        p = 1 / (1 + np.exp(-(X - 2.0) @ np.linspace(-1, 1, 6)))
        df = pd.DataFrame(X, columns=[f"x{j}" for j in range(6)])
        df["label"] = (rng.random(len(X)) < p).astype(np.int64)
        df.to_parquet(d / f"part{i}.parquet", index=False)
        frames.append(df)
    whole = tmp_path / "whole.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(whole, index=False)
    s = FitSettings(batch_size="full", epochs=30, tol=UNLIMITED, optimizer="adam", lr=0.1,
                    test_size=0.0)
    memory = fit_table(whole, "label", s)
    files = fit_files(d, "label", s, scheduler=dask_client.scheduler.address, persist=False)
    enc = files.model.encoder
    X, y = encode_file(str(d / "part1.parquet"), "label", enc, "binary", s.seed, 1, 0.0,
                       False, "int64")
    assert X.flags.f_contiguous and not X.flags.c_contiguous
    np.testing.assert_array_equal(X, enc.transform(frames[1].drop(columns=["label"])))
    np.testing.assert_array_equal(y, frames[1]["label"].to_numpy())
    a, b = files.model.estimator, memory.model.estimator
    np.testing.assert_allclose(enc.means_, memory.model.encoder.means_, rtol=1e-12)
    assert np.linalg.norm(a.coef_ - b.coef_) / np.linalg.norm(b.coef_) < 1e-8
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-8)


def test_files_too_large_for_the_workers_memory_are_re_read_at_every_pass(
        table_dir, tmp_path, capsys, dask_client, monkeypatch):
    from gdlab.workflows import dask_tabular

    assert dask_tabular.keep_in_memory(10**9, [10**9, 10**9]) == (True, None)
    assert dask_tabular.keep_in_memory(10**12, [0, 10**9]) == (True, None)  # 0: no limit
    keep, note = dask_tabular.keep_in_memory(1_500_000_000, [10**9, 10**9])
    assert not keep and note == (
        "the encoded training rows (1.5 GB) exceed 50% of the workers' memory (2 GB): every "
        "pass reads and encodes the files again (--persist keeps them in memory)")
    monkeypatch.setattr(dask_tabular, "PERSIST_SHARE", 1e-9)
    code, out, err = run(capsys, "fit", table_dir, "-t", "label", "--engine", "dask",
                         "--scheduler", dask_client.scheduler.address, *SETTINGS,
                         "--out", tmp_path / "m.npz")
    assert code == 0, err
    assert re.search(r"the encoded training rows \(\S+ GB\) exceed 0% of the workers' "
                     r"memory \(\S+ GB\): every pass reads and encodes the files again", out)
    code, out, err = run(capsys, "fit", table_dir, "-t", "label", "--engine", "dask",
                         "--scheduler", dask_client.scheduler.address, *SETTINGS,
                         "--persist", "--out", tmp_path / "p.npz")
    assert code == 0 and "workers' memory" not in out, err
    a = load_tabular_model(tmp_path / "m.npz").estimator
    b = load_tabular_model(tmp_path / "p.npz").estimator
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


@pytest.mark.parametrize(("args", "message"), [
    (["--persist"], "--persist/--no-persist applies to --engine dask; add --engine dask"),
    (["--cache-dir", "c"], "--cache-dir applies to --engine dask; add --engine dask"),
    (["--engine", "dask", "--persist", "--cache-dir", "c"],
     "--cache-dir serves fits that re-read the files at every pass; use it with --no-persist"),
])
def test_keeping_flags_that_do_not_apply_are_refused(table_dir, capsys, args, message):
    code, _, err = run(capsys, "fit", table_dir / "part0.parquet", "-t", "label", *args)
    assert code != 0 and message in err


def test_fit_files_refuses_a_cache_for_kept_blocks(table_dir, tmp_path):
    from gdlab.workflows.dask_tabular import fit_files

    with pytest.raises(ValueError, match=r"cache_dir serves fits that re-read the files at "
                                         r"every pass; pass persist=False"):
        fit_files(table_dir, "label", persist=True, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
