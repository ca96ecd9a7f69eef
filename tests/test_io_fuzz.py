"""Fuzzing the model and checkpoint loader: every file gives a result or a ModelFileError.

Thousands of files are made from real ones (a fitted table model with its encoder, Python
estimators, a checkpoint): random byte flips, flips in the zip headers, truncations, members
renamed, swapped, dropped, duplicated or lying about their sizes; and, with the checksum made
valid again so the later checks are reached, metadata values replaced, keys dropped, arrays
of other dtypes (object included) and shapes, non-finite values, headers declaring huge
shapes, zip bombs and deeply nested JSON. Each load must end, within 2 s and 300 MB of
traced memory, in a usable object or a one-line :class:`ModelFileError` naming the file.

The default run is fixed (seed 2121, 2,000 files); ``pytest --fuzz-long`` runs 40,000 files
from a seed that changes every run (printed, so a failure can be replayed with
``--fuzz-seed``).
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
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

from gdlab.core.loop import TrainState
from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from gdlab.estimators.persist import TabularModel, load_model
from gdlab.io import FeatureEncoder, ModelFileError, load_arrays
from gdlab.io.checkpoint import load_checkpoint, save_checkpoint

BUDGET_S = 2.0
BUDGET_BYTES = 300 * 2**20
Case = tuple[str, bytes]


# --------------------------------------------------------------------------- the real files


def _base_files(d: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (loader kind, bytes) for files written by gdlab itself."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40),
                      "c": rng.choice(["red", "green", "blue"], size=40)})
    enc = FeatureEncoder().fit(X)
    Xe = enc.transform(X)
    y3 = np.array(["u", "v", "w"])[rng.integers(0, 3, size=40)]
    TabularModel(SoftmaxRegression(epochs=3, random_state=0).fit(Xe, y3), enc, "label",
                 "multiclass").save(d / "table.npz")
    LogisticRegression(epochs=3, random_state=0).fit(Xe, y3 == "u").save(d / "logistic.npz")
    LinearRegression(epochs=3, random_state=0).fit(
        Xe, np.column_stack([Xe[:, 0], -Xe[:, 1]])).save(d / "linear2.npz")
    state = TrainState.start(rng.normal(size=7), "adam", 3)
    state.order = rng.permutation(40)
    save_checkpoint(d / "checkpoint.npz", state, fingerprint="f" * 64, meta={"run": 1})
    return {name: ("checkpoint" if name == "checkpoint" else "model",
                   (d / f"{name}.npz").read_bytes())
            for name in ("table", "logistic", "linear2", "checkpoint")}


def _load(kind: str, path: Path) -> None:
    """Load as gdlab does, then use the result the way its users would."""
    if kind == "checkpoint":
        state, _ = load_checkpoint(path)
        assert np.isfinite(state.theta).all()
        return
    model = load_model(path)
    est = model.estimator if isinstance(model, TabularModel) else model
    if isinstance(model, TabularModel):
        X = pd.DataFrame({n: [0.0, 1.0] for n in model.encoder.feature_names_in_})
        for col, levels in getattr(model.encoder, "categories_", {}).items():
            X[col] = [levels[0], levels[-1]] if levels else ["", ""]
        try:
            Xe = model.transform(X)
        except ValueError:
            Xe = np.zeros((2, est.n_features_in_))
    else:
        Xe = np.zeros((2, est.n_features_in_))
    assert est.predict(Xe).shape[0] == 2


# ------------------------------------------------------------------------------ mutations


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def _json_value(rng: np.random.Generator) -> Any:
    pool: list[Any] = [None, -1, 0, 1, 2, 10**30, -(10**30), 0.5, 1e308, True, "", "x",
                       "y" * int(rng.integers(1, 200_000)), [], {}, [1, [2, [3]]],
                       {"a": {"b": None}}, ["u", "v"], [0.0] * int(rng.integers(1, 5000)),
                       json.loads("[" * 31 + "]" * 31), "<object>", "LinearRegression"]
    return pool[int(rng.integers(len(pool)))]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list) and obj:
        i = len(obj) // 2
        out += _paths(obj[i], (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    if not path:
        return value
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


_DTYPES = ["int8", "uint64", "float32", "complex128", "bool", "<U3", "S5", ">f8", "float16",
           "int64", "<M8[s]", "<m8[s]"]


class Fuzzer:
    """Makes mutated files from the real ones with a seeded generator."""

    def __init__(self, bases: dict[str, tuple[str, bytes]], rng: np.random.Generator,
                 decoded: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]]) -> None:
        self.bases, self.rng, self.decoded = bases, rng, decoded
        self.bomb = zero_bomb(3000)
        self.ops: list[Callable[[bytes, str], bytes]] = [
            self.flip, self.flip, self.flip_structure, self.flip_structure, self.truncate,
            self.insert, self.member_op, self.member_op, self.lie, self.semantic,
            self.semantic, self.semantic, self.semantic, self.crafted,
        ]

    def case(self) -> tuple[str, str, str, bytes]:
        name = list(self.bases)[int(self.rng.integers(len(self.bases)))]
        kind, data = self.bases[name]
        op = self.ops[int(self.rng.integers(len(self.ops)))]
        return name, kind, op.__name__, op(data, name)

    def flip(self, data: bytes, _: str) -> bytes:
        b = bytearray(data)
        for _ in range(int(self.rng.integers(1, 9))):
            b[int(self.rng.integers(len(b)))] ^= 1 << int(self.rng.integers(8))
        return bytes(b)

    def flip_structure(self, data: bytes, _: str) -> bytes:
        # zip headers: local (PK 3 4), central (PK 1 2), end of directory (PK 5 6)
        starts, i = [], data.find(b"PK")
        while i >= 0:
            starts.append(i)
            i = data.find(b"PK", i + 1)
        b = bytearray(data)
        for _ in range(int(self.rng.integers(1, 4))):
            i = starts[int(self.rng.integers(len(starts)))] + int(self.rng.integers(4, 46))
            if i < len(b):
                b[i] = int(self.rng.integers(256))
        return bytes(b)

    def truncate(self, data: bytes, _: str) -> bytes:
        return data[: int(self.rng.integers(len(data)))]

    def insert(self, data: bytes, _: str) -> bytes:
        i = int(self.rng.integers(len(data)))
        junk = self.rng.bytes(int(self.rng.integers(1, 64)))
        return data[:i] + junk + data[i:]

    def member_op(self, data: bytes, _: str) -> bytes:
        members = [stored(n, c) for n, c in _members(data)]
        r = self.rng
        op = int(r.integers(6))
        i, j = (int(k) for k in r.integers(len(members), size=2))
        if op == 0:  # swap the names of two members
            members[i].name, members[j].name = members[j].name, members[i].name
        elif op == 1:
            members.append(stored(members[i].name, members[i].payload))
        elif op == 2:
            del members[i]
        elif op == 3:
            members.append(stored(["extra.npy", "../x.npy", "a/b.npy", "x.txt", ".npy"][
                int(r.integers(5))], npy_bytes(np.zeros(3))))
        elif op == 4:  # content of one member under the name of another
            members[i] = stored(members[i].name, members[j].payload)
        else:
            members = [Member(m.name, _deflate(m.payload), DEFLATED, len(m.payload), m.crc)
                       for m in members]
        return zip_bytes(members)

    def lie(self, data: bytes, _: str) -> bytes:
        members = [stored(n, c) for n, c in _members(data)]
        m = members[int(self.rng.integers(len(members)))]
        what = int(self.rng.integers(3))
        if what == 0:
            m.file_size = int(self.rng.choice([0, 1, (m.file_size or 0) + 1, 2**31, 2**32 - 1]))
        elif what == 1:
            m.crc = int(self.rng.integers(2**32))
        else:
            m.flags = int(self.rng.choice([1, 8, 0x800]))
        return zip_bytes(members)

    def semantic(self, data: bytes, name: str) -> bytes:
        """Change what the file says, then make its checksum valid again."""
        arrays, header = self.decoded[name]
        arrays = {k: v.copy() for k, v in arrays.items()}
        header = json.loads(json.dumps(header))
        r = self.rng
        op = int(r.integers(8))
        keys = sorted(arrays)
        key = keys[int(r.integers(len(keys)))]
        fix_sha = True
        if op in (0, 1):  # a metadata value replaced or removed
            paths = _paths(header["meta"])
            path = paths[int(r.integers(len(paths)))]
            header["meta"] = _set(header["meta"], path, _json_value(r), delete=op == 1)
        elif op == 2:
            header[["format", "format_version", "kind", "meta", "sha256"][int(r.integers(5))]] = \
                _json_value(r)
        elif op == 3:  # another dtype
            try:
                arrays[key] = arrays[key].astype(_DTYPES[int(r.integers(len(_DTYPES)))])
            except (TypeError, ValueError):
                arrays[key] = np.zeros(3, dtype="int8")
        elif op == 4:  # another shape
            a = arrays[key]
            shaped = [a.reshape(-1), a[..., None], a.reshape(-1)[:0], np.asfortranarray(a.T),
                      np.concatenate([a, a]) if a.ndim else a.reshape(1, 1)]
            arrays[key] = shaped[int(r.integers(len(shaped)))]
        elif op == 5:  # a non-finite value
            a = arrays[key] if arrays[key].dtype.kind in "fc" else np.zeros(arrays[key].shape)
            if a.size:
                a.reshape(-1)[int(r.integers(a.size))] = [np.nan, np.inf, -np.inf][
                    int(r.integers(3))]
            arrays[key] = a
        elif op == 6:  # an object array holding a pickle
            arrays[key] = np.array([{"a": 1}, len], dtype=object)
            fix_sha = False
        else:  # a key removed from the arrays
            del arrays[key]
        members = [stored(f"{k}.npy", npy_bytes(v)) for k, v in sorted(arrays.items())]
        try:
            meta = meta_member(header, arrays, fix_sha=fix_sha)
        except (TypeError, ValueError):
            meta = meta_member(header, {}, fix_sha=True)
        members.append(stored("__meta__.npy", meta))
        return zip_bytes(members)

    def crafted(self, data: bytes, name: str) -> bytes:
        arrays, header = self.decoded[name]
        key = sorted(arrays)[int(self.rng.integers(len(arrays)))]
        meta = stored("__meta__.npy", meta_member(header, arrays))
        others = [stored(f"{k}.npy", npy_bytes(v)) for k, v in arrays.items() if k != key]
        op = int(self.rng.integers(6))
        if op == 0:  # bomb, declared
            return zip_bytes([*others, Member(f"{key}.npy", self.bomb, DEFLATED,
                                              3000 * 2**20, 0), meta])
        if op == 1:  # bomb, declared small
            return zip_bytes([*others, Member(f"{key}.npy", self.bomb, DEFLATED,
                                              int(self.rng.integers(1, 10**6)), 0), meta])
        if op == 2:  # a header declaring a huge shape
            shape = tuple(int(s) for s in self.rng.choice([0, 1, 10**6, 10**12, 2**62],
                                                          size=int(self.rng.integers(1, 4))))
            return zip_bytes([*others, stored(f"{key}.npy", npy_header(shape, "<f8")), meta])
        if op == 3:  # deep JSON
            depth = int(self.rng.choice([33, 999, 1001, 100_000]))
            text = '{"format":"gdlab","format_version":1,"kind":"model","sha256":"",' \
                   '"meta":' + "[" * depth + "]" * depth + "}"
            return zip_bytes([*others, stored("__meta__.npy", npy_bytes(
                np.frombuffer(text.encode(), dtype=np.uint8)))])
        if op == 4:  # a header of another kind
            kinds = ["|O", "<U0", "V8", [("a", "<f8")], ("<f8", (3,)), "<f8"]
            descr = kinds[int(self.rng.integers(len(kinds)))]
            return zip_bytes([*others, stored(f"{key}.npy", npy_header((2,), descr)
                                              + bytes(16)), meta])
        return gdlab_file({**arrays, **{f"pad{i}": np.zeros(1) for i in range(70)}},
                          header_for(header["kind"], header["meta"]))


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


# ---------------------------------------------------------------------------------- the run


def _run(tmp_path: Path, n_cases: int, seed: int) -> dict[str, Any]:
    bases = _base_files(tmp_path)
    decoded = {}
    for name, (kind, _) in bases.items():
        p = tmp_path / f"{name}.npz"
        arrays, _ = load_arrays(p, kind=kind)
        with zipfile.ZipFile(p) as zf:
            raw = np.lib.format.read_array(zf.open("__meta__.npy"))
        header = json.loads(raw.tobytes())
        header.pop("sha256")
        decoded[name] = (arrays, header)
    fuzzer = Fuzzer(bases, np.random.default_rng(seed), decoded)
    target = tmp_path / "fuzzed.npz"  # unlinked after each case: no truncation of a big file
    stats: dict[str, Any] = {"loaded": 0, "refused": 0, "worst_s": 0.0, "worst_mib": 0.0,
                             "worst_case": "", "outcome": ""}
    tracemalloc.start()
    try:
        for i in range(n_cases):
            base, kind, op, data = fuzzer.case()
            where = f"case {i} (seed {seed}, base {base}, {op})"
            target.write_bytes(data)
            tracemalloc.reset_peak()
            t0 = time.perf_counter()
            try:
                _load(kind, target)
            except ModelFileError as exc:
                msg = outcome = str(exc)
                assert msg.startswith(f"{target}: "), f"{where}: {msg[:300]}"
                assert "\n" not in msg and len(msg) < 600, f"{where}: {msg[:300]}"
                stats["refused"] += 1
            except Exception as exc:
                raise AssertionError(f"{where}: {type(exc).__name__}: {str(exc)[:300]}") from exc
            else:
                stats["loaded"] += 1
                outcome = "loaded"
            seconds = time.perf_counter() - t0
            target.unlink()
            peak = tracemalloc.get_traced_memory()[1]
            if seconds > stats["worst_s"]:
                stats["worst_s"], stats["worst_case"] = seconds, where
                stats["outcome"] = outcome[:200]
            stats["worst_mib"] = max(stats["worst_mib"], peak / 2**20)
            assert seconds < BUDGET_S, f"{where}: {seconds:.2f} s"
            assert peak < BUDGET_BYTES, f"{where}: {peak / 2**20:.0f} MiB traced"
    finally:
        tracemalloc.stop()
    return stats


def test_fuzz_loader(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    long_run = request.config.getoption("--fuzz-long")
    seed = request.config.getoption("--fuzz-seed")
    if seed is None:
        seed = int(time.time()) if long_run else 2121
    n = 40_000 if long_run else 2_000
    print(f"fuzzing the loader: {n} files, seed {seed}")
    stats = _run(tmp_path, n, seed)
    print(stats)
    assert stats["loaded"] + stats["refused"] == n
    assert stats["refused"] > n // 2  # most mutations must be caught
