"""Checkpoint and resume from the command line (`gdlab fit --checkpoint DIR [--resume]`).

The main test kills a real `gdlab fit` process with SIGKILL at random moments three times,
resumes it each time, and requires the final parameters to be byte-identical to an
uninterrupted run; the same procedure without restoring the generator state must differ.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gdlab.cli import main
from gdlab.io import ModelFileError, load_arrays
from gdlab.io.checkpoint import load_checkpoint
from gdlab.workflows.tabular import SKIP_RNG_ENV

EPOCHS = 16
ROWS = 60_000
# mini-batches, every epoch run (no tolerance stop), a checkpoint after every epoch. Adagrad
# runs in the Python loop (~1,900 steps, ~0.1 s per epoch): compiled epochs would finish the
# whole fit between two polls, leaving no moment to kill it mid-run.
FIT = ["--target", "label", "--batch-size", "32", "--epochs", str(EPOCHS), "--tol", "none",
       "--optimizer", "adagrad", "--lr", "0.05", "--seed", "7"]


def _make_data(path: Path, n: int = 6000, d: int = 10, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 4))
    label = np.argmax(X @ W + rng.gumbel(size=(n, 4)), axis=1)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    df["label"] = label
    df.to_csv(path, index=False)


def _params(model: Path) -> tuple[bytes, bytes]:
    arrays, _ = load_arrays(model, kind="model")
    return arrays["coef"].tobytes(), arrays["intercept"].tobytes()


def _epoch_on_disk(ck: Path) -> int:
    """Epoch of the checkpoint in `ck` (-1 when there is none yet)."""
    try:
        _, meta = load_arrays(ck / "checkpoint.npz", kind="checkpoint")
    except (FileNotFoundError, ModelFileError):
        return -1
    return int(meta["state"]["epoch"])


def _cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "gdlab.cli", *map(str, args)]


def _env(skip_rng: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SKIP_RNG_ENV}
    if skip_rng:
        env[SKIP_RNG_ENV] = "1"
    return env


def _kill_while_training(cwd: Path, ck: Path, delay: float, env: dict[str, str]) -> int:
    """Start `gdlab fit --resume`, wait for it to write a new checkpoint, wait `delay`
    seconds more and SIGKILL it; return the epoch of the checkpoint left on disk."""
    before = _epoch_on_disk(ck)
    proc = subprocess.Popen(_cmd("fit", "data.csv", *FIT, "--checkpoint", ck, "--resume"),
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _epoch_on_disk(ck) <= before:  # this run is training (past the imports)
            assert proc.poll() is None, f"fit ended early: {proc.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.005)
        time.sleep(delay)
        assert proc.poll() is None, "the fit finished before the kill; use more epochs"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return _epoch_on_disk(ck)


def _finish(cwd: Path, ck: Path, out: str, env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(_cmd("fit", "data.csv", *FIT, "--checkpoint", ck, "--resume",
                               "--out", out, "--json"),
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


@pytest.mark.slow
def test_sigkill_three_times_then_resume_is_byte_identical(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_data(tmp_path / "data.csv", n=ROWS)
    # the uninterrupted run (in-process: the process it runs in does not matter)
    assert main(["fit", str(tmp_path / "data.csv"), *FIT, "--out",
                 str(tmp_path / "a.npz"), "--json"]) == 0
    reference = json.loads(capsys.readouterr().out)
    assert reference["epochs"] == EPOCHS
    epoch_seconds = float(reference["seconds"]) / EPOCHS  # type: ignore[arg-type]
    rnd = random.Random(20240607)

    ck = tmp_path / "ck"
    killed_at = [_kill_while_training(tmp_path, ck, rnd.uniform(0, 1.5 * epoch_seconds),
                                      _env(skip_rng=False)) for _ in range(3)]
    assert killed_at == sorted(killed_at) and 1 <= killed_at[0] and killed_at[-1] < EPOCHS
    doc = _finish(tmp_path, ck, "b.npz", _env(skip_rng=False))
    assert doc["resumed_from_epoch"] == killed_at[-1] and doc["epochs"] == EPOCHS
    assert _params(tmp_path / "b.npz") == _params(tmp_path / "a.npz")
    # the whole loss history carried through the checkpoints is the same too
    assert doc["loss_curve"] == reference["loss_curve"]
    assert doc["metrics"] == reference["metrics"]

    # control: the same procedure without restoring the generator state gives other
    # parameters (the shuffles after the resume differ)
    ck2 = tmp_path / "ck2"
    env = _env(skip_rng=True)
    killed = _kill_while_training(tmp_path, ck2, rnd.uniform(0, 1.5 * epoch_seconds), env)
    assert 1 <= killed < EPOCHS
    _finish(tmp_path, ck2, "c.npz", env)
    coef_c, _ = _params(tmp_path / "c.npz")
    assert coef_c != _params(tmp_path / "a.npz")[0]


CRASH_SCRIPT = """
import contextlib, os, signal, sys
from pathlib import Path

import gdlab.io.safe_npz as safe_npz

real_writer = safe_npz.atomic_writer
calls = 0


@contextlib.contextmanager
def crashing_writer(path, mode="wb"):
    # the third checkpoint write dies half-way: half the bytes are in the temp file, then
    # SIGKILL, before the rename
    global calls
    if Path(path).name == "checkpoint.npz":
        calls += 1
    with real_writer(path, mode) as fh:
        yield fh
        if calls == 3:
            fh.flush()
            fh.truncate(fh.tell() // 2)
            fh.flush()
            os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)


safe_npz.atomic_writer = crashing_writer
from gdlab.cli import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_crash_during_a_checkpoint_write_keeps_the_previous_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_data(tmp_path / "data.csv", n=1500)
    fit = ["--target", "label", "--batch-size", "32", "--epochs", "6", "--tol", "none"]
    assert main(["fit", str(tmp_path / "data.csv"), *fit, "--out", str(tmp_path / "a.npz")]) == 0
    capsys.readouterr()
    (tmp_path / "crash.py").write_text(CRASH_SCRIPT)
    ck = tmp_path / "ck"
    proc = subprocess.run([sys.executable, "crash.py", "fit", "data.csv", *fit,
                           "--checkpoint", str(ck)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    temps = [p.name for p in ck.iterdir() if p.name.startswith(".checkpoint.npz.tmp-")]
    assert len(temps) == 1  # the half-written file the crash left behind
    state, user = load_checkpoint(ck / "checkpoint.npz")  # the previous one loads
    assert state.epoch == 2 and len(state.history) == 2
    assert user == {"data": "data.csv", "target": "label"}
    # resuming from it cleans the stale temp file and ends with the uninterrupted result
    assert main(["fit", str(tmp_path / "data.csv"), *fit, "--checkpoint", str(ck),
                 "--resume", "--out", str(tmp_path / "b.npz")]) == 0
    out = capsys.readouterr().out
    assert "resumed from the checkpoint at epoch 2" in out
    assert [p.name for p in ck.iterdir()] == ["checkpoint.npz"]
    assert _params(tmp_path / "b.npz") == _params(tmp_path / "a.npz")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "small.csv"
    _make_data(p, n=400, d=4)
    return p


def _fit(capsys: pytest.CaptureFixture[str], data: Path, *args: object
         ) -> tuple[int, str, str]:
    code = main(["fit", str(data), "--target", "label", "--epochs", "5", "--tol", "none",
                 *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_resume_refuses_other_data_or_settings(
        small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "ck"
    code, out, _ = _fit(capsys, small, "--checkpoint", ck, "--out", tmp_path / "a.npz")
    assert code == 0 and f"checkpoint: {ck / 'checkpoint.npz'}" in out
    # an existing checkpoint is not overwritten by a fresh run
    code, out, err = _fit(capsys, small, "--checkpoint", ck)
    assert code == 1 and out == ""
    assert "a checkpoint already exists; pass --resume to continue it" in err
    # other settings: learning rate, epochs, standardization, seed
    for extra in (["--lr", "0.02"], ["--epochs", "6"], ["--no-standardize"], ["--seed", "1"],
                  ["--test-size", "0.3"], ["--batch-size", "16"]):
        code, out, err = _fit(capsys, small, "--checkpoint", ck, "--resume", *extra)
        assert code == 1 and out == "", extra
        assert err.count("\n") == 1, err
        assert "this checkpoint was made with other data or settings" in err, extra
        assert "Resume with the same data file and options, or delete the checkpoint" in err
    # other data: one cell changed
    df = pd.read_csv(small)
    df.loc[10, "x0"] += 1e-9
    other = tmp_path / "other.csv"
    df.to_csv(other, index=False)
    code, _, err = _fit(capsys, other, "--checkpoint", ck, "--resume")
    assert code == 1 and "other data or settings" in err
    # the same data and settings: resumes at the end, nothing left to do, same model
    code, out, _ = _fit(capsys, small, "--checkpoint", ck, "--resume", "--out",
                        tmp_path / "b.npz")
    assert code == 0 and "resumed from the checkpoint at epoch 5" in out
    assert _params(tmp_path / "b.npz") == _params(tmp_path / "a.npz")


def test_resume_without_a_checkpoint_starts_afresh(
        small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "new"
    code, out, _ = _fit(capsys, small, "--checkpoint", ck, "--resume", "--out",
                        tmp_path / "a.npz")
    assert code == 0
    assert out.splitlines()[0] == f"no checkpoint in {ck} yet; starting from epoch 0"
    code, _, _ = _fit(capsys, small, "--out", tmp_path / "b.npz")
    assert code == 0
    assert _params(tmp_path / "a.npz") == _params(tmp_path / "b.npz")  # checkpoints change nothing


def test_checkpoint_every_n_epochs(small: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import gdlab.io.checkpoint as checkpoint

    epochs: list[int] = []
    real = checkpoint.save_checkpoint

    def spy(path, state, **kw):  # type: ignore[no-untyped-def]
        epochs.append(state.epoch)
        return real(path, state, **kw)

    monkeypatch.setattr(checkpoint, "save_checkpoint", spy)
    code, _, err = _fit(capsys, small, "--epochs", "7", "--checkpoint", tmp_path / "ck",
                        "--checkpoint-every", "3")
    assert code == 0, err
    assert epochs == [3, 6, 7]  # every 3 epochs, and the final state
