"""Faults during a fit on Dask: a worker process killed, the driver killed.

A killed worker loses the blocks it held; Dask recomputes them from the collection's graph on
another worker (aligned again, see gdlab.engines.dask.blocks.aligned) and the fit ends with
the same parameters, bit for bit. A killed driver resumes from its last checkpoint
(``gdlab fit --engine dask --checkpoint DIR --resume``) to the byte-identical model.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
pytest.importorskip("distributed")

from gdlab.engines.dask import default_scheduler  # noqa: E402
from gdlab.estimators.linear import SoftmaxRegression  # noqa: E402
from gdlab.io import ModelFileError, load_arrays  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n: int = 2000, p: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = np.argmax(X @ rng.normal(size=(p, 3)) + rng.gumbel(size=(n, 3)), axis=1)
    return X, y


@pytest.mark.parametrize("batch_size", [None, 128])
def test_a_worker_killed_during_the_fit_changes_nothing(dask_client, batch_size):
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=(250, 8)), da.from_array(y, chunks=250)
    kw = dict(optimizer="adam", lr=0.05, batch_size=batch_size, epochs=6, tol=None,
              random_state=1)
    with default_scheduler(dask_client):
        whole = SoftmaxRegression(**kw).fit(Xd, yd)
        killed: list[int] = []

        def kill_a_worker(state, record):
            if state.epoch == 2:
                pid = sorted(dask_client.run(os.getpid).values())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        faulted = SoftmaxRegression(**kw, callbacks=[kill_a_worker]).fit(Xd, yd)
        dask_client.wait_for_workers(2, timeout=120)  # the nanny restarts it
    assert killed and killed[0] not in dask_client.run(os.getpid).values()
    np.testing.assert_array_equal(faulted.theta_, whole.theta_)
    assert faulted.loss_curve_ == whole.loss_curve_


FIT = ["--target", "label", "--batch-size", "64", "--epochs", "12", "--tol", "none",
       "--optimizer", "momentum", "--lr", "0.05", "--seed", "3", "--engine", "dask"]


def _cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "gdlab.cli", *map(str, args)]


def _epoch_on_disk(ck: Path) -> int:
    try:
        _, meta = load_arrays(ck / "checkpoint.npz", kind="checkpoint")
    except (FileNotFoundError, ModelFileError):
        return -1
    return int(meta["state"]["epoch"])


def test_the_driver_killed_resumes_to_the_byte_identical_model(dask_client, tmp_path):
    X, y = _data(n=3000, seed=4)
    d = tmp_path / "parts"
    d.mkdir()
    for i in range(3):
        df = pd.DataFrame(X[i * 1000:(i + 1) * 1000], columns=[f"x{j}" for j in range(8)])
        df["label"] = y[i * 1000:(i + 1) * 1000]
        df.to_parquet(d / f"part{i}.parquet", index=False)
    addr = dask_client.scheduler.address
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ck = tmp_path / "ck"
    proc = subprocess.Popen(_cmd("fit", d, *FIT, "--scheduler", addr, "--checkpoint", ck),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 300
        while _epoch_on_disk(ck) < 2:
            assert proc.poll() is None, f"fit ended early: {proc.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = _epoch_on_disk(ck)
    assert 2 <= killed_at < 12
    done = subprocess.run(_cmd("fit", d, *FIT, "--scheduler", addr, "--checkpoint", ck,
                               "--resume", "--out", tmp_path / "resumed.npz"),
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resumed from the checkpoint at epoch {killed_at}" in done.stdout
    from gdlab.cli import main

    assert main(["fit", str(d), *FIT, "--scheduler", addr,
                 "--out", str(tmp_path / "whole.npz")]) == 0
    a, _ = load_arrays(tmp_path / "resumed.npz", kind="model")
    b, _ = load_arrays(tmp_path / "whole.npz", kind="model")
    assert a["coef"].tobytes() == b["coef"].tobytes()
    assert a["intercept"].tobytes() == b["intercept"].tobytes()
