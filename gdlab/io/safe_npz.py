"""Model and checkpoint files that cannot execute code: one ``.npz`` of arrays + JSON metadata.

Layout of a gdlab file (an ordinary, uncompressed NumPy ``.npz`` zip archive)::

    <name>.npy ...     the arrays, numeric (bool/int/uint/float/complex) or fixed-width strings
    __meta__.npy       uint8 array: UTF-8 JSON, keys sorted, no NaN/inf
                       {"format": "gdlab", "format_version": 1, "kind": "model",
                        "meta": {...user meta...}, "sha256": "<hex>"}

``sha256`` covers every array (name, dtype, shape and bytes, in sorted name order) and the
header without the ``sha256`` field, so an edited value anywhere is caught on load even when
the zip archive itself was rebuilt consistently.

Pickle is never used: arrays of dtype object are refused when saving; loading reads the first
bytes (a pickle renamed to ``model.npz`` is refused there), then the zip directory, then each
member's ``.npy`` header with :mod:`numpy.lib.format`, refusing object dtypes from the header
alone. Loading is bounded: only a regular file is opened, and the file size, the zip directory,
the number of members, every declared size (compressed and decompressed) and every declared
array shape are checked against fixed caps (``MAX_*`` below) before anything is decompressed
or allocated; members are then read in chunks, never past their declared size.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from gdlab.core._validation import shorten
from gdlab.io._files import NotRegularFileError, open_regular_file
from gdlab.io.atomic import atomic_writer

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "META_KEY",
    "ModelFileError",
    "Schema",
    "MAX_FILE_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_MEMBERS",
    "MAX_META_BYTES",
    "MAX_TOTAL_BYTES",
    "load_arrays",
    "save_arrays",
]

FORMAT_NAME = "gdlab"
FORMAT_VERSION = 1
META_KEY = "__meta__"
_HEADER_KEYS = {"format", "format_version", "kind", "meta", "sha256"}
# dtype kinds a model file may hold: bool, signed/unsigned int, float, complex, str, bytes.
_ALLOWED_KINDS = "biufcUS"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

# A schema entry: (dtype kinds, shape) or (dtype kinds, shape, required).
# kinds: a string of numpy dtype kind letters ("f", "iu", "U") or a tuple of such strings.
# shape: a tuple whose entries are ints or None (any length), or a callable
#        check(shape, meta) -> None if fine, else a text saying what was expected.
ShapeCheck = Callable[[tuple[int, ...], Mapping[str, Any]], "str | None"]
SchemaEntry = tuple[Any, ...]
Schema = Mapping[str, SchemaEntry]

_KIND_WORDS = {
    "b": "bool",
    "i": "signed int",
    "u": "unsigned int",
    "f": "float",
    "c": "complex",
    "U": "str",
    "S": "bytes",
    "O": "object",
    "V": "void/structured",
    "M": "datetime",
    "m": "timedelta",
}


class ModelFileError(ValueError):
    """A gdlab model/checkpoint file is missing, unreadable, altered, or not what was asked for.

    The message is one line: the file, what is wrong, and the fix.
    """


# ---------------------------------------------------------------------------------- helpers


def _json_default(obj: Any) -> Any:
    # NumPy scalars and small arrays are common in meta (n_features from X.shape, a loss value);
    # convert them instead of making every caller remember to.
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        return obj.tolist()
    raise TypeError(f"a value of type {type(obj).__name__}")


def _find_nonfinite(obj: Any, where: str = "meta") -> str | None:
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return where
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            found = _find_nonfinite(v, f"{where}[{k!r}]")
            if found:
                return found
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found = _find_nonfinite(v, f"{where}[{i}]")
            if found:
                return found
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "fc" and not np.isfinite(obj).all():
        return where
    return None


def _canonical_json(obj: Any) -> str:
    return json.dumps(
        obj,
        allow_nan=False,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
    )


def _digest(arrays: Mapping[str, np.ndarray], header_wo_sha: Mapping[str, Any]) -> str:
    """SHA-256 over arrays (sorted by name: name, dtype, shape, bytes) and the header JSON."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        for part in (name.encode(), a.dtype.str.encode(), json.dumps(list(a.shape)).encode()):
            h.update(struct.pack("<Q", len(part)))  # length prefixes: no ambiguous concatenation
            h.update(part)
        data = memoryview(a.reshape(-1).view(np.uint8))  # type: ignore[arg-type]  # no copy
        h.update(struct.pack("<Q", data.nbytes))
        h.update(data)
    h.update(_canonical_json(dict(header_wo_sha)).encode("utf-8"))
    return h.hexdigest()


def _dtype_text(a: np.ndarray) -> str:
    return f"{a.dtype} ({_KIND_WORDS.get(a.dtype.kind, a.dtype.kind)})"


def _kinds_text(kinds: str) -> str:
    return " or ".join(_KIND_WORDS.get(k, k) for k in kinds)


# ------------------------------------------------------------------------------------- save


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    *,
    kind: str,
) -> None:
    """Write arrays + JSON metadata to one ``.npz`` file, atomically, without pickle.

    Parameters
    ----------
    path : path-like
        Destination, written exactly as given (no ``.npz`` appended). The write goes through
        :func:`gdlab.io.atomic.atomic_writer`: a crash leaves any previous file intact.
    arrays : mapping of str to ndarray
        Names match ``[A-Za-z0-9_][A-Za-z0-9_.-]*`` (``__meta__`` is reserved). Arrays of any
        shape with dtype bool, int, uint, float, complex or fixed-width str/bytes; float and
        complex arrays must be finite. Object arrays are refused (they need pickle).
    meta : mapping
        JSON-serializable user metadata (nested dicts/lists/str/int/float/bool/None; NumPy
        scalars are converted). Non-finite floats are refused.
    kind : str
        What the file is, e.g. ``"model"`` or ``"checkpoint"``; :func:`load_arrays` checks it.

    Raises
    ------
    TypeError, ValueError
        Bad names, dtypes, non-finite values or non-serializable meta (the file is not touched).
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(
            f"The 'kind' parameter of save_arrays must be a non-empty str. Got {kind!r} instead."
        )
    if not isinstance(meta, Mapping):
        raise TypeError(
            "The 'meta' parameter of save_arrays must be a dict. "
            f"Got {type(meta).__name__} instead."
        )
    clean: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == META_KEY:
            raise ValueError(
                f"Array names given to save_arrays must match [A-Za-z0-9_][A-Za-z0-9_.-]* and not "
                f"be {META_KEY!r}. Got {name!r} instead; rename the array."
            )
        a = np.asarray(value)
        if a.dtype.hasobject or a.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(
                f"Array {name!r} given to save_arrays has dtype {_dtype_text(a)}; gdlab files hold "
                "only bool/int/float/complex/str arrays (object arrays need pickle, which can "
                "execute code on load). Convert it, e.g. np.asarray(x, dtype=float)."
            )
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise ValueError(
                f"Array {name!r} given to save_arrays has a non-finite value "
                f"{a[bad].item()!r} at index {bad}; model files hold finite values only. "
                "Fix the values before saving."
            )
        clean[name] = a
    header: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "meta": dict(meta),
    }
    where = _find_nonfinite(header["meta"])
    if where:
        raise ValueError(
            f"The 'meta' given to save_arrays has a non-finite float at {where}; JSON (and gdlab "
            "files) hold finite numbers only. Store it as None or a finite value."
        )
    try:
        # round-trip through JSON so the digest is computed on exactly what load will see
        header = json.loads(_canonical_json(header))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"The 'meta' given to save_arrays must be JSON-serializable (dicts with str keys, "
            f"lists, str, int, float, bool, None). Got {exc}; convert that value."
        ) from None
    header["sha256"] = _digest(clean, header)
    blob = np.frombuffer(_canonical_json(header).encode("utf-8"), dtype=np.uint8)
    with atomic_writer(path, "wb") as fh:
        np.savez(fh, allow_pickle=False, **clean, **{META_KEY: blob})


# ------------------------------------------------------------------------------------- load

# Limits checked before anything is decompressed or allocated. A model holds a few arrays of
# n_features floats; a checkpoint adds the optimizer state and one epoch's shuffle order
# (8 bytes per training row), so 128 MiB covers about ten million rows.
MAX_FILE_BYTES = 160 * 2**20  # the archive on disk
MAX_TOTAL_BYTES = 128 * 2**20  # all members, decompressed
MAX_META_BYTES = 4 * 2**20  # the JSON metadata (a checkpoint's history: ~250 bytes an epoch)
MAX_JSON_DEPTH = 32  # gdlab writes at most 5 levels
MAX_MEMBERS = 64
MAX_DIRECTORY_BYTES = 64 * 2**10  # the zip central directory: ~100 bytes a member
_NPY_HEADER_BYTES = 10_000  # numpy's own default max_header_size
_CHUNK = 2**20
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

SchemaLike = Schema | Callable[[Mapping[str, Any]], Schema]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _sniff(p: Path, head: bytes) -> None:
    """Refuse anything that is not a zip archive before any zip parser sees it."""
    if head.startswith(_ZIP_MAGICS):
        return
    if not head:
        raise ModelFileError(f"{p}: the file is empty (0 bytes), not a gdlab file; re-save it.")
    if head[:1] == b"\x80" and len(head) >= 2 and 2 <= head[1] <= 5:
        raise ModelFileError(
            f"{p}: this looks like a pickle file (protocol {head[1]}); gdlab never loads pickles "
            "because loading them can execute code. Re-create the model with gdlab (gdlab fit ... "
            "--out MODEL.npz)."
        )
    if head.startswith(b"\x93NUMPY"):
        raise ModelFileError(
            f"{p}: this is a single-array .npy file, not a gdlab .npz file; save models with "
            "gdlab (save_arrays / --out MODEL.npz)."
        )
    raise ModelFileError(
        f"{p}: not a gdlab file (not a .npz zip archive; starts with {head[:8]!r}); "
        "pass a file written by gdlab."
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return shorten(str(tuple(shape)), 60)


def _schema_problem(
    name: str, dtype: np.dtype[Any], shape: tuple[int, ...], entry: SchemaEntry,
    meta: Mapping[str, Any],
) -> str | None:
    """What is wrong with a declared (dtype, shape) for its schema entry, or None."""
    kinds = "".join(entry[0]) if isinstance(entry[0], tuple | list) else str(entry[0])
    if dtype.kind not in kinds:
        kind_word = _KIND_WORDS.get(dtype.kind, dtype.kind)
        return f"array {name!r} has dtype {dtype} ({kind_word}), expected {_kinds_text(kinds)}"
    rule = entry[1]
    if callable(rule):
        expected = rule(tuple(shape), meta)
        if expected is not None:
            return f"array {name!r} has shape {_shape_text(shape)}, expected {expected}"
        return None
    rule = tuple(rule)
    if len(rule) == len(shape) and all(
        r is None or r == s for r, s in zip(rule, shape, strict=True)
    ):
        return None
    want = "(" + ", ".join("*" if r is None else str(r) for r in rule)
    want += ",)" if len(rule) == 1 else ")"
    return f"array {name!r} has shape {_shape_text(shape)}, expected {want} (* = any)"


def _check_members(p: Path, names: list[str], schema: Schema | None) -> None:
    if schema is None:
        return
    unknown = sorted(set(names) - set(schema))
    if unknown:
        raise ModelFileError(
            f"{p}: unknown arrays {shorten(unknown)} (expected only {sorted(schema)}); the file "
            "was not written by this kind of gdlab object or was altered; re-save it with gdlab."
        )
    required = sorted(n for n, e in schema.items() if len(e) < 3 or e[2])
    missing = [n for n in required if n not in names]
    if missing:
        raise ModelFileError(
            f"{p}: missing arrays {missing}; the file is incomplete or of another kind; "
            "re-save it with gdlab."
        )


class _Reader:
    """Reads one gdlab archive member by member, checking every declared size first."""

    def __init__(self, p: Path, zf: zipfile.ZipFile) -> None:
        self.p, self.zf, self.budget = p, zf, MAX_TOTAL_BYTES

    def fail(self, what: str, fix: str = "the file was altered or not written by gdlab; "
             "re-save it with gdlab") -> ModelFileError:
        return ModelFileError(f"{self.p}: {what}; {fix}.")

    def declared(
        self, info: zipfile.ZipInfo, name: str
    ) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
        """(shape, fortran_order, dtype, header bytes) from the member's .npy header, checked:
        no object or structured dtype, a size within the budget, matching the member size."""
        with self.zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                    f, max_header_size=_NPY_HEADER_BYTES)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                    f, max_header_size=_NPY_HEADER_BYTES)
            else:
                raise self.fail(
                    f"array {name!r} has .npy format version {version}, expected 1.0 or 2.0")
            start = f.tell()
        if dtype.hasobject:
            raise self.fail(
                f"array {name!r} has dtype object; gdlab never loads object arrays (they "
                "need pickle, which can execute code)"
            )
        if (dtype.kind not in _ALLOWED_KINDS or dtype.names is not None
                or dtype.subdtype is not None or dtype.itemsize == 0):
            raise self.fail(
                f"array {name!r} has dtype {shorten(str(dtype), 60)}; gdlab files hold only "
                "bool/int/float/complex/str arrays"
            )
        if any(s < 0 for s in shape):
            raise self.fail(f"array {name!r} declares a negative shape {_shape_text(shape)}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.budget:
            raise self.fail(
                f"array {name!r} declares shape {_shape_text(shape)} of {dtype} "
                f"({_mib(nbytes)}), over the {_mib(MAX_TOTAL_BYTES)} a gdlab file may hold",
                "pass a file written by gdlab",
            )
        if start + nbytes != info.file_size:
            raise self.fail(
                f"array {name!r} declares {_mib(nbytes)} of data but its archive member "
                f"holds {_mib(max(0, info.file_size - start))}"
            )
        self.budget -= nbytes
        return tuple(shape), bool(fortran), dtype, start

    def read(
        self, info: zipfile.ZipInfo, name: str,
        declared: tuple[tuple[int, ...], bool, np.dtype[Any], int],
    ) -> np.ndarray:
        """The array in member `info`, streamed in chunks into an array of its declared size."""
        shape, fortran, dtype, start = declared
        nbytes = math.prod(shape) * dtype.itemsize
        buf = np.empty(nbytes, dtype=np.uint8)
        view = memoryview(buf)  # type: ignore[arg-type]  # numpy's stub lacks the buffer protocol
        with self.zf.open(info) as f:
            f.read(start)
            done = 0
            while done < nbytes:
                chunk = f.read(min(_CHUNK, nbytes - done))
                if not chunk:
                    raise self.fail(f"array {name!r} ends early (truncated)",
                                    "restore it from a backup or re-save it with gdlab")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if f.read(1):  # also the read that makes zipfile check the member's CRC
                raise self.fail(f"array {name!r} has bytes after its data")
        return buf.view(dtype).reshape(shape, order="F" if fortran else "C")


def _members(p: Path, zf: zipfile.ZipFile, disk_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by array name, every declared size checked against the caps."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(
            f"{p}: the archive has {len(infos)} members, over the {MAX_MEMBERS} a gdlab file may "
            "hold; pass a file written by gdlab."
        )
    members: dict[str, zipfile.ZipInfo] = {}
    total = compressed = 0
    for info in infos:
        fname = info.filename
        name = fname[:-4] if fname.endswith(".npy") else ""
        if not name or not _NAME_RE.match(name):
            raise ModelFileError(
                f"{p}: archive member {shorten(fname, 60)!r} is not a .npy array of a gdlab "
                "file; the file was altered or not written by gdlab; re-save it."
            )
        if name in members:
            raise ModelFileError(
                f"{p}: archive member {fname!r} appears twice; the file was altered; "
                "re-save it with gdlab."
            )
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{p}: archive member {fname!r} is encrypted; gdlab files "
                                 "never are; pass a file written by gdlab.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{p}: archive member {fname!r} uses zip compression method "
                f"{info.compress_type}; gdlab reads stored or deflated members only; re-save "
                "the file with gdlab."
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise ModelFileError(
                f"{p}: archive member {fname!r} is stored with {info.compress_size} bytes but "
                f"declares {info.file_size}; the file is damaged; re-save it with gdlab."
            )
        total += info.file_size
        compressed += info.compress_size
        if total > MAX_TOTAL_BYTES:
            raise ModelFileError(
                f"{p}: the archive declares over {_mib(MAX_TOTAL_BYTES)} of data once "
                f"decompressed (member {fname!r}: {_mib(info.file_size)}), over the limit for "
                "a gdlab file; pass a file written by gdlab."
            )
        if compressed > disk_bytes:
            raise ModelFileError(
                f"{p}: the archive's members declare more bytes ({_mib(compressed)}) than the "
                f"file holds ({_mib(disk_bytes)}); the file is truncated or damaged; restore it "
                "from a backup or re-save it with gdlab."
            )
        members[name] = info
    return members


def _parse_header_json(p: Path, blob: np.ndarray) -> dict[str, Any]:
    invalid_meta = (
        f"{p}: the {META_KEY} entry is invalid ({{}}); the file was altered or not written by "
        "gdlab; re-save it."
    )

    def _no_constants(name: str) -> Any:
        raise ValueError(f"non-finite number {name}")

    try:
        header = json.loads(blob.tobytes().decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ModelFileError(invalid_meta.format("not UTF-8 text")) from None
    except RecursionError:
        raise ModelFileError(
            invalid_meta.format(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        ) from None
    except ValueError as exc:
        raise ModelFileError(invalid_meta.format(f"not valid JSON: {shorten(str(exc))}")) from None
    if _json_depth(header) > MAX_JSON_DEPTH:
        raise ModelFileError(
            invalid_meta.format(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        )
    if not isinstance(header, dict):
        raise ModelFileError(
            invalid_meta.format(f"a JSON {type(header).__name__}, expected an object")
        )
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{p}: format is {shorten(repr(header.get('format')), 40)}, expected "
            f"{FORMAT_NAME!r}; this .npz was not written by gdlab; re-save the model with gdlab."
        )
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            invalid_meta.format(
                f"format_version {shorten(repr(version), 40)}; expected an int >= 1")
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{p}: written by a newer gdlab (format {shorten(repr(version), 40)}); this gdlab "
            f"reads format {FORMAT_VERSION}; upgrade gdlab."
        )
    keys = set(header)
    if keys != _HEADER_KEYS:
        extra, missing = sorted(keys - _HEADER_KEYS), sorted(_HEADER_KEYS - keys)
        raise ModelFileError(invalid_meta.format(
            f"unknown keys {shorten(extra, 60)}, missing keys {missing}"))
    if not isinstance(header["kind"], str):
        raise ModelFileError(invalid_meta.format(f"kind {shorten(repr(header['kind']), 40)}"))
    if not isinstance(header["meta"], dict):
        raise ModelFileError(invalid_meta.format("meta is not a JSON object"))
    if not isinstance(header["sha256"], str):
        raise ModelFileError(invalid_meta.format("sha256 is not a str"))
    return header


def _json_depth(obj: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    depth, stack = 0, [(obj, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in node if isinstance(child, dict | list))
    return depth


def load_arrays(
    path: str | os.PathLike[str], *, kind: str, schema: SchemaLike | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and validate a file written by :func:`save_arrays`, within fixed limits.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file. Only a regular file is opened (a FIFO, device or directory is
        refused at once, without blocking).
    kind : str
        The kind it must be (``"model"``, ``"checkpoint"``, ...).
    schema : mapping or callable, optional
        ``{name: (kinds, shape[, required])}``, or a callable ``schema(meta) -> mapping`` given
        the user meta once it is read (it may raise :class:`ModelFileError`). `kinds` is a
        string of NumPy dtype kind letters (``"f"``, ``"iu"``, ``"U"``) or a tuple of them;
        `shape` is a tuple of ints and None (None = any size along that axis, the length fixes
        ndim) or a callable ``check(shape, meta) -> None | str`` returning what was expected
        when the shape is wrong; `required` (default True). With a schema, unknown and
        missing arrays are errors, and every array's declared dtype and shape are checked
        before its data is read.

    Returns
    -------
    arrays : dict of str to ndarray
        Every array except ``__meta__``.
    meta : dict
        The user meta given to :func:`save_arrays`.

    Raises
    ------
    ModelFileError
        One line naming the file, what is wrong and the fix. Beyond the format checks
        (pickle, not an npz, truncated or damaged archive, invalid ``__meta__``, other or
        newer format, kind, object dtype, checksum, non-finite values, schema), the limits:
        at most ``MAX_FILE_BYTES`` on disk, ``MAX_MEMBERS`` members, ``MAX_TOTAL_BYTES``
        decompressed (declared sizes checked before decompressing, every read capped),
        ``MAX_META_BYTES`` of metadata nested at most ``MAX_JSON_DEPTH`` levels.
    """
    p = Path(path)
    try:
        fh, size = open_regular_file(p)
    except FileNotFoundError:
        raise ModelFileError(f"{p}: no such file; check the path.") from None
    except NotRegularFileError as exc:
        raise ModelFileError(f"{p}: {exc}; pass the .npz file written by gdlab.") from None
    except OSError as exc:
        raise ModelFileError(
            f"{p}: cannot be read ({exc.strerror or exc}); check its permissions."
        ) from None
    with fh:
        if size > MAX_FILE_BYTES:
            raise ModelFileError(
                f"{p}: the file is {_mib(size)}, over the {_mib(MAX_FILE_BYTES)} a gdlab model "
                "or checkpoint file may hold; pass a file written by gdlab."
            )
        _sniff(p, fh.read(16))
        return _load_open(p, fh, size, kind, schema)


def _load_open(
    p: Path, fh: IO[bytes], size: int, kind: str, schema: SchemaLike | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    damaged = (
        f"{p}: the file is truncated or damaged (not a complete .npz archive: {{}}); "
        "restore it from a backup or re-save it with gdlab."
    )
    try:
        # the end-of-directory record ZipFile itself reads first: bound the directory it
        # would then parse entry by entry
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # typeshed omits zipfile's private helpers
        if end is None:
            raise ModelFileError(damaged.format("no zip end-of-directory record"))
        directory_bytes = int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]  # typeshed omits it
        if directory_bytes > MAX_DIRECTORY_BYTES:
            raise ModelFileError(
                f"{p}: the zip directory declares {_mib(directory_bytes)}, over the "
                f"{_mib(MAX_DIRECTORY_BYTES)} of a gdlab file; pass a file written by gdlab."
            )
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            members = _members(p, zf, size)
            if META_KEY not in members:
                raise ModelFileError(
                    f"{p}: no {META_KEY} entry, so this .npz was not written by gdlab; "
                    "re-save the model with gdlab."
                )
            reader = _Reader(p, zf)
            declared = {name: reader.declared(members[name], name) for name in sorted(members)}
            shape, _, dtype, _ = declared[META_KEY]
            if math.prod(shape) * dtype.itemsize > MAX_META_BYTES:
                raise ModelFileError(
                    f"{p}: the {META_KEY} entry declares "
                    f"{_mib(math.prod(shape) * dtype.itemsize)}, over the {_mib(MAX_META_BYTES)} "
                    "of metadata a gdlab file may hold; pass a file written by gdlab."
                )
            blob = reader.read(members[META_KEY], META_KEY, declared.pop(META_KEY))
            if blob.dtype != np.uint8 or blob.ndim != 1:
                raise ModelFileError(
                    f"{p}: the {META_KEY} entry is invalid (dtype {blob.dtype}, shape "
                    f"{_shape_text(blob.shape)}; expected uint8 bytes); the file was altered "
                    "or not written by gdlab; re-save it."
                )
            header = _parse_header_json(p, blob)
            if header["kind"] != kind:
                raise ModelFileError(
                    f"{p}: is a gdlab {shorten(repr(header['kind']), 40)} file, expected a "
                    f"{kind!r} file; pass a {kind} file."
                )
            meta: dict[str, Any] = header["meta"]
            rules = schema(meta) if callable(schema) else schema
            _check_members(p, sorted(declared), rules)
            for name, (shape, _, dtype, _) in declared.items():
                problem = None if rules is None else _schema_problem(
                    name, dtype, shape, rules[name], meta)
                if problem:
                    raise ModelFileError(
                        f"{p}: {problem}; the file was altered or not written by gdlab; "
                        "re-save it."
                    )
            arrays = {name: reader.read(members[name], name, d) for name, d in declared.items()}
    except ModelFileError:
        raise
    except zipfile.BadZipFile as exc:
        msg = shorten(str(exc))
        if "CRC" in msg:
            raise ModelFileError(
                f"{p}: the file was altered or damaged (zip checksum mismatch: {msg}); restore "
                "it from a backup or re-save it with gdlab."
            ) from None
        raise ModelFileError(damaged.format(msg)) from None
    except (ValueError, OSError, EOFError, KeyError, IndexError, struct.error,
            NotImplementedError, OverflowError, zlib.error) as exc:
        raise ModelFileError(damaged.format(shorten(f"{type(exc).__name__}: {exc}"))) from None

    sha = header.pop("sha256")
    if _digest(arrays, header) != sha:
        raise ModelFileError(
            f"{p}: checksum mismatch: the file was altered or damaged after gdlab wrote it; "
            "restore it from a backup or re-save it with gdlab."
        )
    for name in sorted(arrays):
        a = arrays[name]
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise ModelFileError(
                f"{p}: array {name!r} has a non-finite value {a[bad].item()!r} at index "
                f"{shorten(bad, 40)}; a model file must hold finite values; re-train or restore "
                "the file."
            )
    return arrays, meta
