"""Faults while writing model files and checkpoints: never a partial file, always one line.

- SIGKILL at random moments of a (forked) process saving a model over and over: the path
  always holds one of the two complete models it alternates between.
- SIGKILL of `gdlab fit --out` the moment its temp file appears (mid-save): the previous
  model stays.
- Two `gdlab fit` processes writing the same `--out`: one complete model, no temp files.
- A full disk (ENOSPC injected in the child's fsync) while `gdlab fit --checkpoint` writes
  its second checkpoint: exit 1 with one line naming the file, the first checkpoint loads and
  resumes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gdlab.estimators.linear import LinearRegression
from gdlab.estimators.persist import load_model, save_model
from gdlab.io.checkpoint import load_checkpoint
from gdlab.io.safe_npz import load_arrays
from gdlab.workflows.tabular import FitSettings, fit_table


def _save_forever(path: str, n: int, ready: Any) -> None:
    """Save two models of n features (all coefficients 1.0, then 2.0) in turn, forever."""
    models = []
    for value in (1.0, 2.0):
        est = LinearRegression()
        est.coef_, est.intercept_ = np.full(n, value), value
        est.n_features_in_, est.n_iter_, est._y_ndim, est._n_targets = n, 1, 1, 1
        models.append(est)
    save_model(models[0], path)
    ready.set()
    i = 0
    while True:
        i += 1
        save_model(models[i % 2], path)


def _temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


def test_sigkill_during_model_saves_leaves_old_or_new(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    n = 2_000_000  # 16 MB a save: a kill often lands inside a write
    rng = np.random.default_rng(21)
    ctx = multiprocessing.get_context("fork")
    mid_write = 0
    for _ in range(12):
        ready = ctx.Event()
        saver = ctx.Process(target=_save_forever, args=(str(path), n, ready), daemon=True)
        saver.start()
        assert ready.wait(60)
        time.sleep(float(rng.uniform(0.01, 0.3)))
        os.kill(saver.pid, signal.SIGKILL)  # type: ignore[arg-type]
        saver.join(30)
        assert saver.exitcode == -signal.SIGKILL
        mid_write += bool(_temps(tmp_path))  # killed between creating and renaming a temp
        est = load_model(path)  # complete: checksum, sizes and schema hold
        assert est.coef_.shape == (n,)
        value = est.coef_[0]
        assert value in (1.0, 2.0) and (est.coef_ == value).all() and est.intercept_ == value
        for name in _temps(tmp_path):  # what the next writer's clean-up removes
            (tmp_path / name).unlink()
    assert mid_write >= 1, "no kill landed inside a save; the test did not test anything"


def _data(path: Path, n: int = 400, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=n)
    df.to_csv(path, index=False)


def _cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "gdlab.cli", *map(str, args)]


def test_sigkill_of_gdlab_fit_mid_save_keeps_the_previous_model(tmp_path: Path) -> None:
    _data(tmp_path / "d.csv")
    out = tmp_path / "m.npz"
    fit = ["fit", "d.csv", "--target", "y", "--epochs", "3", "--out", out]
    assert subprocess.run(_cmd(*fit, "--seed", "1"), cwd=tmp_path,
                          capture_output=True, timeout=300).returncode == 0
    before = load_arrays(out, kind="model")[0]["coef"]
    proc = subprocess.Popen(_cmd(*fit, "--seed", "2"), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _temps(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    proc.kill()
    proc.wait(timeout=30)
    after = load_arrays(out, kind="model")[0]["coef"]  # never partial
    if proc.returncode == -signal.SIGKILL and _temps(tmp_path):
        np.testing.assert_array_equal(after, before)  # killed mid-save: the old model
    assert after.shape == before.shape


def test_two_fits_into_the_same_out_leave_one_complete_model(tmp_path: Path) -> None:
    _data(tmp_path / "d.csv")
    out = tmp_path / "m.npz"
    runs = [["--seed", "1", "--optimizer", "adam"], ["--seed", "2", "--optimizer", "sgd"]]
    procs = [subprocess.Popen(_cmd("fit", "d.csv", "--target", "y", "--epochs", "20",
                                   "--out", out, *extra), cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for extra in runs]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert _temps(tmp_path) == []
    got = load_model(out)  # complete and consistent
    expected = []
    for extra in runs:
        settings = FitSettings(seed=int(extra[1]), optimizer=extra[3], epochs=20)
        expected.append(fit_table(tmp_path / "d.csv", "y", settings).model.estimator.coef_)
    assert any(np.array_equal(got.estimator.coef_, e) for e in expected)


ENOSPC_FIT = """
import errno, os, stat, sys
real_fsync = os.fsync
regular = 0

def full_disk_fsync(fd):
    # the second checkpoint finds the disk full when it is synced
    global regular
    if stat.S_ISREG(os.fstat(fd).st_mode):
        regular += 1
        if regular == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_fsync(fd)

os.fsync = full_disk_fsync
from gdlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_full_disk_while_writing_a_checkpoint(tmp_path: Path) -> None:
    _data(tmp_path / "d.csv")
    ck = tmp_path / "ck"
    fit = ["fit", "d.csv", "--target", "y", "--epochs", "4", "--tol", "none", "--optimizer",
           "adagrad", "--checkpoint", ck]
    proc = subprocess.run([sys.executable, "-c", ENOSPC_FIT, *map(str, fit)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"gdlab: error: {ck / 'checkpoint.npz'}: could not be written (No "
                          "space left on device); the disk is full: free some space and run "
                          "again. The previous file at this path, if any, is unchanged."), err
    state, _ = load_checkpoint(ck / "checkpoint.npz")  # the first checkpoint, complete
    assert state.epoch == 1 and len(state.history) == 1
    assert _temps(ck) == []
    resumed = subprocess.run(_cmd(*fit, "--resume"), cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from the checkpoint at epoch 1" in resumed.stdout
    assert load_checkpoint(ck / "checkpoint.npz")[0].epoch == 4


@pytest.mark.skipif(not hasattr(os, "statvfs"), reason="needs statvfs")
def test_atomic_write_error_is_one_line(tmp_path: Path) -> None:
    from gdlab.io.atomic import AtomicWriteError, atomic_writer

    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(AtomicWriteError) as info, atomic_writer(target) as fh:
        fh.write(b"new")
        raise OSError(28, "No space left on device")
    assert str(info.value).startswith(f"{target}: could not be written (No space left on "
                                      "device); the disk is full")
    assert info.value.errno == 28
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []
