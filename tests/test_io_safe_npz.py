"""Safe model files: round trip, and every refusal built by hand."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab.io.safe_npz import (
    FORMAT_VERSION,
    META_KEY,
    ModelFileError,
    _canonical_json,
    _digest,
    load_arrays,
    save_arrays,
)

ARRAYS = {
    "theta": np.array([0.5, -1.25, 3.0e-300, 7.0]),
    "W32": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
    "counts": np.array([1, -2, 2**40], dtype=np.int64),
    "classes": np.array(["cat", "dog"]),
}
META = {
    "model": "logistic",
    "n_features": 3,
    "nested": {"lr": 0.1, "betas": (0.9, 0.999), "names": ["a", "é"], "none": None},
    "big": 2**100,
    "flag": True,
    "np_int": np.int64(4),
}


def _write_raw(
    path: Path,
    arrays: dict[str, Any],
    header: dict[str, Any] | None,
    *,
    fix_sha: bool = True,
    pickle_ok: bool = False,
) -> None:
    """Write a .npz by hand (bypassing save_arrays' checks) with an optional header."""
    members = dict(arrays)
    if header is not None:
        header = dict(header)
        if fix_sha:
            header.pop("sha256", None)
            header["sha256"] = _digest(arrays, header)
        members[META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, allow_pickle=pickle_ok, **members)


def _header(**over: Any) -> dict[str, Any]:
    h = {"format": "gdlab", "format_version": 1, "kind": "model", "meta": {"a": 1}}
    h.update(over)
    return h


@pytest.fixture
def good(tmp_path: Path) -> Path:
    p = tmp_path / "model.npz"
    save_arrays(p, ARRAYS, META, kind="model")
    return p


def test_round_trip_dtypes_values_and_meta(good: Path) -> None:
    arrays, meta = load_arrays(good, kind="model")
    assert sorted(arrays) == sorted(ARRAYS)
    for name, a in ARRAYS.items():
        assert arrays[name].dtype == a.dtype
        assert arrays[name].shape == a.shape
        np.testing.assert_array_equal(arrays[name], a)
    assert arrays["theta"][2] == 3.0e-300  # bit-exact, no text round trip
    assert meta == {
        "model": "logistic",
        "n_features": 3,
        "nested": {"lr": 0.1, "betas": [0.9, 0.999], "names": ["a", "é"], "none": None},
        "big": 2**100,
        "flag": True,
        "np_int": 4,
    }


def test_file_layout_is_plain_npz_with_json_meta(good: Path) -> None:
    with zipfile.ZipFile(good) as z:
        names = sorted(z.namelist())
        assert names == sorted([f"{n}.npy" for n in ARRAYS] + [f"{META_KEY}.npy"])
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    raw = np.load(good, allow_pickle=False)[META_KEY]
    assert raw.dtype == np.uint8 and raw.ndim == 1
    text = raw.tobytes().decode("utf-8")
    header = json.loads(text)
    assert set(header) == {"format", "format_version", "kind", "meta", "sha256"}
    assert header["format"] == "gdlab" and header["format_version"] == FORMAT_VERSION == 1
    assert header["kind"] == "model" and len(header["sha256"]) == 64
    assert text == _canonical_json(header)  # sorted keys, canonical separators
    assert list(good.parent.iterdir()) == [good]  # no temp file left


def test_digest_depends_on_every_part() -> None:
    h = _header()
    base = _digest(ARRAYS, h)
    assert base == _digest(dict(reversed(list(ARRAYS.items()))), h)  # order-independent
    changed = dict(ARRAYS, theta=ARRAYS["theta"].copy())
    changed["theta"][0] = np.nextafter(0.5, 1.0)  # one ulp
    assert _digest(changed, h) != base
    assert _digest(dict(ARRAYS, counts=ARRAYS["counts"].astype(np.int32)), h) != base
    assert _digest(dict(ARRAYS, W32=ARRAYS["W32"].reshape(3, 2)), h) != base
    assert _digest(ARRAYS, _header(meta={"a": 2})) != base


# ----------------------------------------------------------------------------- save refusals


def test_save_refuses_object_arrays_and_keeps_previous_file(good: Path) -> None:
    before = good.read_bytes()
    with pytest.raises(TypeError, match=r"dtype object \(object\).*object arrays need pickle"):
        save_arrays(good, {"x": np.array([1, "a"], dtype=object)}, {}, kind="model")
    with pytest.raises(ValueError, match=r"non-finite value nan at index \(1,\)"):
        save_arrays(good, {"x": np.array([1.0, np.nan])}, {}, kind="model")
    with pytest.raises(ValueError, match=r"non-finite float at meta\['h'\]\['lr'\]"):
        save_arrays(good, {}, {"h": {"lr": float("inf")}}, kind="model")
    with pytest.raises(TypeError, match="JSON-serializable"):
        save_arrays(good, {}, {"f": object()}, kind="model")
    with pytest.raises(ValueError, match="Array names"):
        save_arrays(good, {META_KEY: np.zeros(1)}, {}, kind="model")
    with pytest.raises(ValueError, match="Array names"):
        save_arrays(good, {"a/b": np.zeros(1)}, {}, kind="model")
    with pytest.raises(ValueError, match="'kind' parameter"):
        save_arrays(good, {}, {}, kind="")
    assert good.read_bytes() == before
    assert list(good.parent.iterdir()) == [good]


# ----------------------------------------------------------------------------- load refusals


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nope\.npz: no such file; check the path"):
        load_arrays(tmp_path / "nope.npz", kind="model")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_arrays(tmp_path, kind="model")


class _Boom:
    """Unpickling this would create a file: proof that loading never unpickles."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def test_pickle_file_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for proto in (2, 4, 5):
        p = tmp_path / f"model{proto}.npz"
        p.write_bytes(pickle.dumps({"theta": np.zeros(3), "x": _Boom(str(marker))}, protocol=proto))
        with pytest.raises(ModelFileError) as exc:
            load_arrays(p, kind="model")
        msg = str(exc.value)
        assert msg.startswith(f"{p}: this looks like a pickle file (protocol {proto}); ")
        assert "gdlab never loads pickles because loading them can execute code" in msg
        assert "\n" not in msg
    assert not marker.exists()


def test_not_an_npz(tmp_path: Path) -> None:
    npy = tmp_path / "a.npz"
    np.save(npy.open("wb"), np.zeros(3))
    with pytest.raises(ModelFileError, match="single-array .npy file"):
        load_arrays(npy, kind="model")
    txt = tmp_path / "b.npz"
    txt.write_text("theta,1,2,3\n")
    with pytest.raises(ModelFileError, match=r"not a gdlab file \(not a .npz zip archive"):
        load_arrays(txt, kind="model")
    empty = tmp_path / "c.npz"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"the file is empty \(0 bytes\)"):
        load_arrays(empty, kind="model")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file(good: Path, keep: float) -> None:
    raw = good.read_bytes()
    good.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(ModelFileError, match="truncated or damaged .*; restore it from a backup"):
        load_arrays(good, kind="model")


def test_altered_bytes_caught_by_zip_crc(good: Path) -> None:
    raw = bytearray(good.read_bytes())
    pos = bytes(raw).index(ARRAYS["theta"].tobytes())
    raw[pos + 3] ^= 0x01
    good.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="the file was altered or damaged"):
        load_arrays(good, kind="model")


def test_rebuilt_archive_with_changed_value_fails_checksum(good: Path, tmp_path: Path) -> None:
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    members["theta"] = members["theta"].copy()
    members["theta"][0] = 0.75  # an edit that keeps the zip itself consistent
    bad = tmp_path / "edited.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(ModelFileError) as exc:
        load_arrays(bad, kind="model")
    assert str(exc.value) == (
        f"{bad}: checksum mismatch: the file was altered or damaged after gdlab wrote it; "
        "restore it from a backup or re-save it with gdlab."
    )


def test_edited_meta_fails_checksum(good: Path, tmp_path: Path) -> None:
    with np.load(good, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    header = json.loads(members[META_KEY].tobytes())
    header["meta"]["n_features"] = 4
    members[META_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    bad = tmp_path / "edited.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_arrays(bad, kind="model")


def test_missing_and_invalid_meta(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    _write_raw(p, {"theta": np.zeros(2)}, None)
    with pytest.raises(ModelFileError, match="no __meta__ entry, so this .npz was not written by"):
        load_arrays(p, kind="model")
    for blob, why in [
        (np.frombuffer(b"{not json", dtype=np.uint8), "not valid JSON"),
        (np.frombuffer(b"\xff\xfe", dtype=np.uint8), "not UTF-8"),
        (np.frombuffer(b"[1, 2]", dtype=np.uint8), "a JSON list"),
        (np.arange(3.0), "expected uint8 bytes"),
        (
            np.frombuffer(json.dumps(_header(meta={"x": float("nan")})).encode(), np.uint8),
            "non-finite number NaN",
        ),
    ]:
        with open(p, "wb") as fh:
            np.savez(fh, theta=np.zeros(2), **{META_KEY: blob})
        with pytest.raises(ModelFileError, match=f"__meta__ entry is invalid .*{why}"):
            load_arrays(p, kind="model")


def test_wrong_format_name(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    _write_raw(p, {"theta": np.zeros(2)}, _header(format="other"))
    with pytest.raises(ModelFileError, match="format is 'other', expected 'gdlab'"):
        load_arrays(p, kind="model")


def test_newer_format_version(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    _write_raw(p, {"theta": np.zeros(2)}, _header(format_version=2, new_field=[1]))
    with pytest.raises(ModelFileError) as exc:
        load_arrays(p, kind="model")
    assert str(exc.value) == (
        f"{p}: written by a newer gdlab (format 2); this gdlab reads format 1; upgrade gdlab."
    )
    _write_raw(p, {"theta": np.zeros(2)}, _header(format_version="1"))
    with pytest.raises(ModelFileError, match="format_version '1'; expected an int >= 1"):
        load_arrays(p, kind="model")


def test_unknown_header_key(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    _write_raw(p, {"theta": np.zeros(2)}, _header(extra=1))
    with pytest.raises(ModelFileError, match=r"unknown keys \['extra'\], missing keys \[\]"):
        load_arrays(p, kind="model")


def test_kind_mismatch(good: Path) -> None:
    with pytest.raises(ModelFileError) as exc:
        load_arrays(good, kind="checkpoint")
    assert str(exc.value) == (
        f"{good}: is a gdlab 'model' file, expected a 'checkpoint' file; pass a checkpoint file."
    )


def test_object_array_in_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    _write_raw(
        p,
        {"theta": np.array([1, {"a": 1}], dtype=object)},
        _header(),
        fix_sha=False,
        pickle_ok=True,
    )
    with pytest.raises(ModelFileError, match="array 'theta' has dtype object; gdlab never loads"):
        load_arrays(p, kind="model")


def test_nonfinite_array_with_valid_checksum(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"
    arrays = {"theta": np.array([[1.0, 2.0], [np.inf, 0.0]])}
    _write_raw(p, arrays, _header())
    with pytest.raises(
        ModelFileError,
        match=r"array 'theta' has a non-finite value inf at index "
        r"\(1, 0\); a model file must hold finite values",
    ):
        load_arrays(p, kind="model")
    # the same file passes once finite, so the failure above is the NaN and nothing else
    _write_raw(p, {"theta": np.array([[1.0, 2.0], [3.0, 0.0]])}, _header())
    arrays2, meta = load_arrays(p, kind="model")
    assert meta == {"a": 1}


# ------------------------------------------------------------------------------------ schema


def _theta_rule(shape: tuple[int, ...], meta: Any) -> str | None:
    n = meta["n_features"] + 1
    return None if shape == (n,) else f"({n},) = n_features + 1"


SCHEMA = {
    "theta": ("f", (None,)),
    "W32": (("f",), (2, None)),
    "counts": ("iu", (3,)),
    "classes": ("U", (None,)),
    "optional": ("f", (None,), False),
}


def test_schema_accepts_good_file(good: Path) -> None:
    arrays, _ = load_arrays(good, kind="model", schema=SCHEMA)
    assert set(arrays) == set(ARRAYS)
    schema = dict(SCHEMA, theta=("f", _theta_rule))
    load_arrays(good, kind="model", schema=schema)  # n_features 3 -> theta (4,)


def test_schema_refusals(tmp_path: Path) -> None:
    p = tmp_path / "m.npz"

    def expect(arrays: dict[str, np.ndarray], schema: Any, text: str) -> None:
        save_arrays(p, arrays, META, kind="model")
        with pytest.raises(ModelFileError) as exc:
            load_arrays(p, kind="model", schema=schema)
        assert str(exc.value).startswith(f"{p}: ")
        assert text in str(exc.value)

    expect(
        dict(ARRAYS, extra=np.zeros(1)),
        SCHEMA,
        "unknown arrays ['extra'] (expected only ['W32', 'classes', 'counts', 'optional', "
        "'theta'])",
    )
    expect(
        {k: v for k, v in ARRAYS.items() if k != "counts"},
        SCHEMA,
        "missing arrays ['counts']; the file is incomplete",
    )
    expect(
        dict(ARRAYS, counts=np.zeros(3)),
        SCHEMA,
        "array 'counts' has dtype float64 (float), expected signed int or unsigned int",
    )
    expect(
        dict(ARRAYS, W32=np.zeros((3, 2), np.float32)),
        SCHEMA,
        "array 'W32' has shape (3, 2), expected (2, *) (* = any)",
    )
    expect(
        dict(ARRAYS, theta=np.zeros((4, 1))),
        SCHEMA,
        "array 'theta' has shape (4, 1), expected (*,) (* = any)",
    )
    expect(
        dict(ARRAYS, theta=np.zeros(5)),
        dict(SCHEMA, theta=("f", _theta_rule)),
        "array 'theta' has shape (5,), expected (4,) = n_features + 1",
    )


def test_load_never_calls_pickle(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*a: Any, **k: Any) -> Any:
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    load_arrays(good, kind="model")


def test_overwrite_is_atomic_on_failure(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = good.read_bytes()

    def crash(*a: Any, **k: Any) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_arrays(good, {"theta": np.ones(2)}, {}, kind="model")
    assert good.read_bytes() == before
    assert sorted(os.listdir(good.parent)) == [good.name]
    monkeypatch.undo()
    load_arrays(good, kind="model")
    assert io.BytesIO(before).read(4) == b"PK\x03\x04"


_SAVER = """
import sys
import numpy as np
from gdlab.io.safe_npz import save_arrays
path = sys.argv[1]
i = 0
while True:
    i += 1
    save_arrays(path, {"theta": np.full(1_000_000, float(i))}, {"step": i}, kind="checkpoint")
    if i == 1:
        print("ready", flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_save_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from gdlab.io.atomic import clean_stale_temp_files

    p = tmp_path / "ckpt.npz"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rng = np.random.default_rng(3)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(p)], stdout=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        arrays, meta = load_arrays(p, kind="checkpoint", schema={"theta": ("f", (1_000_000,))})
        assert meta["step"] >= 1
        np.testing.assert_array_equal(arrays["theta"], float(meta["step"]))
        clean_stale_temp_files(tmp_path)
        assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]
