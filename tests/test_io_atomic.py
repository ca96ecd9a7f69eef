"""Atomic writes: a crash (exception or SIGKILL) mid-write leaves the previous file intact."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gdlab.io.atomic import (
    atomic_write_bytes,
    atomic_writer,
    clean_stale_temp_files,
    temp_name_for,
)


def _temps(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if ".tmp-" in p.name)


def test_write_bytes_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert _temps(tmp_path) == []


def test_text_mode(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    with atomic_writer(target, "w") as fh:
        fh.write('{"é": 1}\n')
    assert target.read_bytes() == '{"é": 1}\n'.encode()


def test_temp_name_pattern(tmp_path: Path) -> None:
    name = temp_name_for(tmp_path / "model.npz").name
    prefix = f".model.npz.tmp-{os.getpid()}-"
    assert name.startswith(prefix)
    assert len(name) == len(prefix) + 12
    int(name[len(prefix):], 16)  # random part is hex
    assert temp_name_for(tmp_path / "model.npz") != temp_name_for(tmp_path / "model.npz")


def test_exception_inside_writer_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.bin"
    atomic_write_bytes(target, b"good old content")
    with pytest.raises(RuntimeError, match="simulated crash"):
        with atomic_writer(target) as fh:
            fh.write(b"half of the new")
            # the temp file exists in the same directory while writing
            assert len(_temps(tmp_path)) == 1
            raise RuntimeError("simulated crash")
    assert target.read_bytes() == b"good old content"
    assert _temps(tmp_path) == []


def test_exception_without_previous_file_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(target) as fh:
            fh.write(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_and_bad_args(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        atomic_write_bytes(tmp_path / "nope" / "a.bin", b"x")
    with pytest.raises(ValueError, match="'mode' parameter of atomic_writer"):
        with atomic_writer(tmp_path / "a", "ab"):
            pass
    with pytest.raises(TypeError, match="must be bytes. Got str"):
        atomic_write_bytes(tmp_path / "a", "text")  # type: ignore[arg-type]


def test_clean_stale_temp_files(tmp_path: Path) -> None:
    dead_pid = 2**22 + 12345  # above Linux's default pid_max, so never a live process
    stale = tmp_path / f".model.npz.tmp-{dead_pid}-abcdef012345"
    stale.write_bytes(b"partial")
    live = tmp_path / f".model.npz.tmp-{os.getpid()}-abcdef012345"
    live.write_bytes(b"being written")
    unrelated = [tmp_path / "model.npz", tmp_path / ".hidden", tmp_path / "x.tmp-1-zz"]
    for p in unrelated:
        p.write_bytes(b"keep")
    removed = clean_stale_temp_files(tmp_path)
    assert removed == [stale]
    assert live.exists() and all(p.exists() for p in unrelated)
    # a live pid's temp file older than max_age is taken as stale (pid reuse)
    old = time.time() - 7200
    os.utime(live, (old, old))
    assert clean_stale_temp_files(tmp_path) == [live]
    assert clean_stale_temp_files(tmp_path / "missing") == []


_WRITER = textwrap.dedent(
    """
    import hashlib, sys
    from gdlab.io.atomic import atomic_writer
    path, size = sys.argv[1], int(sys.argv[2])
    i = 0
    while True:
        i += 1
        body = i.to_bytes(8, "little") * (size // 8)
        with atomic_writer(path) as fh:
            # many small writes, so a kill lands mid-write most of the time
            for k in range(0, len(body), 65536):
                fh.write(body[k:k + 65536])
            fh.write(hashlib.sha256(body).digest())
        if i == 1:
            print("ready", flush=True)
    """
)


def _check_complete(path: Path, size: int) -> int:
    raw = path.read_bytes()
    body, digest = raw[:-32], raw[-32:]
    assert len(body) == size
    assert hashlib.sha256(body).digest() == digest
    return int.from_bytes(body[:8], "little")


@pytest.mark.slow
def test_sigkill_during_write_leaves_previous_file_loadable(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    size = 4 * 1024 * 1024
    rng = np.random.default_rng(7)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    versions = []
    killed_mid_write = 0
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(size)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        versions.append(_check_complete(target, size))
        leftovers = _temps(tmp_path)
        assert len(leftovers) <= 1
        killed_mid_write += len(leftovers)
        # the dead writer's temp file is stale and is cleaned; the real file is untouched
        assert clean_stale_temp_files(tmp_path) == leftovers
        assert _temps(tmp_path) == []
        _check_complete(target, size)
    assert all(v >= 1 for v in versions)
    # a 4 MB file written in 64 kB pieces: the kill lands inside a write at least once
    assert killed_mid_write >= 1
