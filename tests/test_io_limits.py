"""Hostile model files and paths: refused (or loaded) within 2 s and 300 MB, in one line.

Each file is built by hand (tests/_modelfiles.py) the way an attacker would: a 3 MB archive
that inflates to 3 GB, a header declaring 10^12 floats, metadata nested 100,000 levels, a
pickle inside an object array, a FIFO or a device where a file should be. The loader is timed
in-process; the command line is run as a user meets it, in a child process whose peak memory
(``ru_maxrss`` from ``os.wait4``) is measured.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _modelfiles import (
    DEFLATED,
    Member,
    gdlab_file,
    header_for,
    meta_member,
    npy_bytes,
    npy_header,
    stored,
    zero_bomb,
    zip_bytes,
)

from gdlab.estimators.linear import LinearRegression
from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io import FeatureEncoder, ModelFileError
from gdlab.io.safe_npz import MAX_FILE_BYTES, MAX_MEMBERS, MAX_META_BYTES, load_arrays

BUDGET_S = 2.0
BUDGET_MIB = 300.0
EMPTY_META = stored("__meta__.npy", meta_member(header_for("model", {}), {}))


def _deep_meta(depth: int) -> bytes:
    deep = "[" * depth + "]" * depth
    head = '{"format":"gdlab","format_version":1,"kind":"model","sha256":"","meta":{"a":'
    text = head + deep + "}}"
    return npy_bytes(np.frombuffer(text.encode(), dtype=np.uint8))


def _object_pickle_member() -> bytes:
    # an object-dtype .npy whose payload is a pickle that would run `touch` when unpickled
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("touch /tmp/gdlab-pwned",))

    return npy_header((1,), "|O") + pickle.dumps(np.array([Boom()], dtype=object)[0])


HOSTILE: dict[str, tuple[bytes, str]] = {
    # name: (file bytes, what the one-line message must say)
    "bomb_3gb_declared": (
        zip_bytes([Member("coef.npy", zero_bomb(3000), DEFLATED, 3000 * 2**20, 0), EMPTY_META]),
        "declares over 128.0 MiB of data once decompressed"),
    "bomb_3gb_unknown_member": (
        zip_bytes([EMPTY_META, Member("extra.npy", zero_bomb(3000), DEFLATED, 3000 * 2**20, 0)]),
        "declares over 128.0 MiB"),
    "bomb_declared_small": (
        zip_bytes([Member("coef.npy", zero_bomb(3000), DEFLATED, 1000, 0), EMPTY_META]),
        "checksum mismatch"),
    "huge_shape": (zip_bytes([stored("coef.npy", npy_header((10**12,), "<f8")), EMPTY_META]),
                   "declares shape (1000000000000,) of float64"),
    "huge_2d_shape": (zip_bytes([stored("coef.npy", npy_header((2**40, 2**40), "<f8")),
                                 EMPTY_META]), "over the 128.0 MiB"),
    "deep_json": (zip_bytes([stored("__meta__.npy", _deep_meta(100_000))]),
                  "JSON nested deeper than 32 levels"),
    "object_pickle": (zip_bytes([stored("coef.npy", _object_pickle_member()), EMPTY_META]),
                      "dtype object; gdlab never loads object arrays"),
    "too_many_members": (zip_bytes([stored(f"a{i}.npy", npy_bytes(np.zeros(1)))
                                    for i in range(MAX_MEMBERS)] + [EMPTY_META]),
                         f"members, over the {MAX_MEMBERS}"),
    "huge_directory": (zip_bytes([stored("a" * 40000 + ".npy", b""),
                                  stored("b" * 40000 + ".npy", b""), EMPTY_META]),
                       "the zip directory declares"),
    "big_meta": (zip_bytes([stored("__meta__.npy", npy_header((MAX_META_BYTES + 1,), "|u1")
                                   + bytes(MAX_META_BYTES + 1))]),
                 "of metadata a gdlab file may hold"),
    "structured_dtype": (zip_bytes([stored("coef.npy", npy_header((2,), [("a", "<f8")])
                                           + bytes(16)), EMPTY_META]),
                         "gdlab files hold only"),
}


def _write(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.npz"
    p.write_bytes(HOSTILE[name][0])
    return p


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_refused_fast_in_one_line(name: str, tmp_path: Path) -> None:
    p = _write(tmp_path, name)
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError) as info:
        load_model(p)
    seconds = time.perf_counter() - t0
    msg = str(info.value)
    assert seconds < BUDGET_S, f"{name}: {seconds:.2f} s"
    assert msg.startswith(f"{p}: ") and "\n" not in msg and len(msg) < 400, msg
    assert HOSTILE[name][1] in msg
    assert not Path("/tmp/gdlab-pwned").exists()


def test_not_regular_files_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    cases = {fifo: "is a FIFO (named pipe), not a regular file",
             Path("/dev/zero"): "is a character device, not a regular file",
             tmp_path: "is a directory, not a regular file",
             tmp_path / "missing.npz": "no such file"}
    for path, words in cases.items():
        t0 = time.perf_counter()
        with pytest.raises(ModelFileError, match=re.escape(words)):
            load_arrays(path, kind="model")
        assert time.perf_counter() - t0 < 0.5


def test_oversized_file_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "sparse.npz"
    with open(p, "wb") as fh:  # a sparse file: its size costs no disk
        fh.write(b"PK\x03\x04")
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ModelFileError, match=r"the file is 160\.0 MiB, over the 160\.0 MiB"):
        load_arrays(p, kind="model")


# ------------------------------------------------------------------- through the command line


# Runs the command line as `python -m gdlab.cli` does and records the memory the command adds
# once its libraries are imported: those imports (NumPy, pandas, SciPy, scikit-learn, numba)
# take about 290 MB before any file is opened, the same for every command. VmHWM is the
# process's peak memory; writing 5 to /proc/self/clear_refs restarts it from the current RSS.
# (ru_maxrss from wait4 would also count the test process the child was forked from.)
_RUN_CLI = """
import atexit, os, runpy, sys
def _status(key):
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith(key)).split()[1])
import gdlab.workflows.tabular
before = _status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
def _peak():
    with open(os.environ["GDLAB_TEST_PEAK"], "w") as out:
        out.write(f"{before} {_status('VmHWM')}")
atexit.register(_peak)
sys.argv = ["gdlab", *sys.argv[1:]]
runpy.run_module("gdlab.cli", run_name="__main__")
"""


def _gdlab(args: list[Any], cwd: Path, limit_s: float = 60.0) -> tuple[int, str, float, float]:
    """Run `gdlab ARGS`; return (exit code, stderr, seconds, MiB added to the process's peak
    memory after the imports).

    The child is killed after `limit_s` seconds (a hang fails the test instead of stalling it).
    """
    stamp = time.monotonic_ns()
    err_path, peak_path = cwd / f".stderr-{stamp}", cwd / f".peak-{stamp}"
    env = {**os.environ, "GDLAB_TEST_PEAK": str(peak_path)}
    with open(err_path, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _RUN_CLI, *map(str, args)], cwd=cwd,
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        seconds = time.perf_counter() - t0
    before, peak = map(int, peak_path.read_text().split())
    return proc.returncode, err_path.read_text(), seconds, (peak - before) / 1024


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("data") / "data.csv"
    p.write_text("x0,x1,y\n1,2,3\n4,5,6\n")
    return p


@pytest.mark.parametrize("name", ["bomb_3gb_declared", "bomb_declared_small", "huge_shape",
                                  "deep_json", "object_pickle", "big_meta"])
def test_cli_predict_refuses_hostile_model(name: str, tmp_path: Path, data_csv: Path) -> None:
    p = _write(tmp_path, name)
    rc, err, seconds, peak = _gdlab(["predict", p, data_csv], tmp_path)
    assert rc == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"gdlab: error: {p}: ") and HOSTILE[name][1] in err
    assert peak < 50, f"{name}: {peak:.0f} MiB"
    assert not Path("/tmp/gdlab-pwned").exists()


def test_cli_fifo_as_model_or_data_is_refused_without_hanging(tmp_path: Path,
                                                             data_csv: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    rc, err, seconds, _ = _gdlab(["predict", fifo, data_csv], tmp_path, limit_s=30)
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in err
    fifo_csv = tmp_path / "pipe.csv"
    os.mkfifo(fifo_csv)
    for args in (["fit", fifo_csv, "--target", "y"], ["predict", tmp_path / "m.npz", fifo_csv]):
        if args[0] == "predict":
            _fitted_model(tmp_path / "m.npz")
        rc, err, seconds, _ = _gdlab(args, tmp_path, limit_s=30)
        assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err, err
        assert f"{fifo_csv}: is a FIFO (named pipe), not a regular file" in err


def _fitted_model(path: Path, n_features: int = 2) -> None:
    import pandas as pd

    X = pd.DataFrame({"x0": [1.0, 4.0, 2.0], "x1": [2.0, 5.0, 1.0]})
    enc = FeatureEncoder().fit(X)
    est = LinearRegression(epochs=3).fit(enc.transform(X), [3.0, 6.0, 2.0])
    TabularModel(est, enc, "y", "regression").save(path)


def _hundred_mib_model(path: Path) -> int:
    """A valid LinearRegression file of ~100 MiB: coef of shape (1, 13,200,000)."""
    n = 13_200_000
    coef = np.zeros((1, n))
    meta = {"model_type": "LinearRegression", "params": {}, "n_features": n,
            "feature_names": None, "y_ndim": 1, "n_iter": 1, "target": "y",
            "task": "regression", "encoder": None}
    arrays = {"coef": coef, "intercept": np.zeros(1)}
    path.write_bytes(gdlab_file(arrays, header_for("model", meta)))
    return n


def test_hundred_mib_model_loads_within_budget(tmp_path: Path, data_csv: Path) -> None:
    p = tmp_path / "big.npz"
    n = _hundred_mib_model(p)
    assert 100 * 2**20 < p.stat().st_size < MAX_FILE_BYTES
    t0 = time.perf_counter()
    est = load_model(p)
    seconds = time.perf_counter() - t0
    assert est.coef_.shape == (n,) and seconds < BUDGET_S, seconds
    del est
    # the command line loads it in full (checksum, finiteness), then refuses it for `predict`
    rc, err, _, peak = _gdlab(["predict", p, data_csv], tmp_path)
    assert rc == 1 and "has no column names" in err and err.count("\n") == 1, err
    assert peak < BUDGET_MIB, f"{peak:.0f} MiB"


def test_cli_quotes_a_megabyte_label_briefly(tmp_path: Path) -> None:
    label = "L" * 1_000_000
    data = tmp_path / "d.csv"
    data.write_text(f"x0,{label}\n1,2\n3,4\n")
    rc, err, _, _ = _gdlab(["fit", data, "--target", "y"], tmp_path)
    assert rc == 1 and err.count("\n") == 1 and len(err) < 400, err[:600]
    assert err.startswith(f"gdlab: error: {data}: no target column 'y'; available columns: "
                          "'x0', 'LLLLLLLL")
    assert "... (1000002 chars)" in err
