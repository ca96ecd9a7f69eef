"""Model and checkpoint files that cannot execute code: one ``.npz`` of arrays + JSON metadata.

Layout of a gdlab file (an ordinary, uncompressed NumPy ``.npz`` zip archive)::

    <name>.npy ...     the arrays, numeric (bool/int/uint/float/complex) or fixed-width strings
    __meta__.npy       uint8 array: UTF-8 JSON, keys sorted, no NaN/inf
                       {"format": "gdlab", "format_version": 1, "kind": "model",
                        "meta": {...user meta...}, "sha256": "<hex>"}

``sha256`` covers every array (name, dtype, shape and bytes, in sorted name order) and the
header without the ``sha256`` field, so an edited value anywhere is caught on load even when
the zip archive itself was rebuilt consistently.

Pickle is never used: arrays of dtype object are refused when saving, and loading goes through
``np.load(..., allow_pickle=False)`` after the file's first bytes have been checked, so a
pickle file renamed to ``model.npz`` is refused before anything reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.io.atomic import atomic_writer

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "META_KEY",
    "ModelFileError",
    "Schema",
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
        data = a.tobytes()
        h.update(struct.pack("<Q", len(data)))
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

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _sniff(p: Path, head: bytes) -> None:
    """Refuse anything that is not a zip archive before NumPy sees it."""
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


def _check_schema(
    p: Path, arrays: Mapping[str, np.ndarray], schema: Schema, meta: Mapping[str, Any]
) -> None:
    unknown = sorted(set(arrays) - set(schema))
    if unknown:
        raise ModelFileError(
            f"{p}: unknown arrays {unknown} (expected only {sorted(schema)}); the file was not "
            "written by this kind of gdlab object or was altered; re-save it with gdlab."
        )
    required = sorted(n for n, e in schema.items() if len(e) < 3 or e[2])
    missing = [n for n in required if n not in arrays]
    if missing:
        raise ModelFileError(
            f"{p}: missing arrays {missing}; the file is incomplete or of another kind; "
            "re-save it with gdlab."
        )
    for name in sorted(arrays):
        entry = schema[name]
        kinds = "".join(entry[0]) if isinstance(entry[0], tuple | list) else str(entry[0])
        shape_rule = entry[1]
        a = arrays[name]
        if a.dtype.kind not in kinds:
            raise ModelFileError(
                f"{p}: array {name!r} has dtype {_dtype_text(a)}, expected {_kinds_text(kinds)}; "
                "the file was altered or not written by gdlab; re-save it."
            )
        if callable(shape_rule):
            expected = shape_rule(tuple(a.shape), meta)
            if expected is not None:
                raise ModelFileError(
                    f"{p}: array {name!r} has shape {tuple(a.shape)}, expected {expected}; the "
                    "file was altered or not written by gdlab; re-save it."
                )
        else:
            rule = tuple(shape_rule)
            ok = len(rule) == a.ndim and all(
                r is None or r == s for r, s in zip(rule, a.shape, strict=False)
            )
            if not ok:
                want = "(" + ", ".join("*" if r is None else str(r) for r in rule)
                want += ",)" if len(rule) == 1 else ")"
                raise ModelFileError(
                    f"{p}: array {name!r} has shape {tuple(a.shape)}, expected {want} "
                    "(* = any); the file was altered or not written by gdlab; re-save it."
                )


def load_arrays(
    path: str | os.PathLike[str], *, kind: str, schema: Schema | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and validate a file written by :func:`save_arrays`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    kind : str
        The kind it must be (``"model"``, ``"checkpoint"``, ...).
    schema : mapping, optional
        ``{name: (kinds, shape[, required])}``. `kinds` is a string of NumPy dtype kind letters
        (``"f"``, ``"iu"``, ``"U"``) or a tuple of them; `shape` is a tuple of ints and None
        (None = any size along that axis, the length fixes ndim) or a callable
        ``check(shape, meta) -> None | str`` returning what was expected when the shape is
        wrong; `required` (default True). With a schema, unknown and missing arrays are errors.

    Returns
    -------
    arrays : dict of str to ndarray
        Every array except ``__meta__``.
    meta : dict
        The user meta given to :func:`save_arrays`.

    Raises
    ------
    ModelFileError
        One line naming the file, what is wrong and the fix: missing file, pickle file, not an
        npz, truncated/corrupt archive, missing/invalid ``__meta__``, other format, newer
        format version, kind mismatch, object dtype, checksum mismatch, non-finite values,
        schema violations.
    """
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: no such file; check the path.")
    if p.is_dir():
        raise ModelFileError(f"{p}: is a directory, not a gdlab file; pass the .npz file.")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ModelFileError(
            f"{p}: cannot be read ({exc.strerror}); check its permissions."
        ) from None
    _sniff(p, head)

    damaged = (
        f"{p}: the file is truncated or damaged (not a complete .npz archive: {{}}); "
        "restore it from a backup or re-save it with gdlab."
    )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(p, allow_pickle=False) as npz:
            for name in npz.files:
                try:
                    value = npz[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                        raise ModelFileError(
                            f"{p}: array {name!r} has dtype object; gdlab never loads object "
                            "arrays (they need pickle, which can execute code); re-save the "
                            "model with gdlab."
                        ) from None
                    raise
                if not isinstance(value, np.ndarray):
                    raise ModelFileError(
                        f"{p}: archive member {name!r} is not a .npy array; the file was not "
                        "written by gdlab or was altered; re-save it."
                    )
                arrays[name] = value
    except ModelFileError:
        raise
    except zipfile.BadZipFile as exc:
        msg = str(exc)
        if "CRC" in msg:
            raise ModelFileError(
                f"{p}: the file was altered or damaged (zip checksum mismatch: {msg}); restore "
                "it from a backup or re-save it with gdlab."
            ) from None
        raise ModelFileError(damaged.format(msg)) from None
    except (ValueError, OSError, EOFError, KeyError, struct.error, NotImplementedError) as exc:
        raise ModelFileError(
            damaged.format(f"{type(exc).__name__}: {exc}".replace("\n", " "))
        ) from None

    blob = arrays.pop(META_KEY, None)
    if blob is None:
        raise ModelFileError(
            f"{p}: no {META_KEY} entry, so this .npz was not written by gdlab; "
            "re-save the model with gdlab."
        )
    invalid_meta = (
        f"{p}: the {META_KEY} entry is invalid ({{}}); the file was altered or not written by "
        "gdlab; re-save it."
    )
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ModelFileError(
            invalid_meta.format(f"dtype {blob.dtype}, shape {blob.shape}; expected uint8 bytes")
        )

    def _no_constants(name: str) -> Any:
        raise ValueError(f"non-finite number {name}")

    try:
        header = json.loads(blob.tobytes().decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ModelFileError(invalid_meta.format("not UTF-8 text")) from None
    except ValueError as exc:
        raise ModelFileError(invalid_meta.format(f"not valid JSON: {exc}")) from None
    if not isinstance(header, dict):
        raise ModelFileError(
            invalid_meta.format(f"a JSON {type(header).__name__}, expected an object")
        )
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{p}: format is {header.get('format')!r}, expected {FORMAT_NAME!r}; this .npz was "
            "not written by gdlab; re-save the model with gdlab."
        )
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(
            invalid_meta.format(f"format_version {version!r}; expected an int >= 1")
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{p}: written by a newer gdlab (format {version}); this gdlab reads format "
            f"{FORMAT_VERSION}; upgrade gdlab."
        )
    keys = set(header)
    if keys != _HEADER_KEYS:
        extra, missing = sorted(keys - _HEADER_KEYS), sorted(_HEADER_KEYS - keys)
        raise ModelFileError(invalid_meta.format(f"unknown keys {extra}, missing keys {missing}"))
    if header["kind"] != kind:
        raise ModelFileError(
            f"{p}: is a gdlab {header['kind']!r} file, expected a {kind!r} file; "
            f"pass a {kind} file."
        )
    if not isinstance(header["meta"], dict):
        raise ModelFileError(invalid_meta.format("meta is not a JSON object"))
    for name, a in arrays.items():
        if a.dtype.hasobject or a.dtype.kind not in _ALLOWED_KINDS:
            raise ModelFileError(
                f"{p}: array {name!r} has dtype {_dtype_text(a)}; gdlab files hold only "
                "bool/int/float/complex/str arrays; re-save the model with gdlab."
            )
    sha = header.pop("sha256")
    if not isinstance(sha, str) or _digest(arrays, header) != sha:
        raise ModelFileError(
            f"{p}: checksum mismatch: the file was altered or damaged after gdlab wrote it; "
            "restore it from a backup or re-save it with gdlab."
        )
    for name in sorted(arrays):
        a = arrays[name]
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise ModelFileError(
                f"{p}: array {name!r} has a non-finite value {a[bad].item()!r} at index {bad}; a "
                "model file must hold finite values; re-train or restore the file."
            )
    meta: dict[str, Any] = header["meta"]
    if schema is not None:
        _check_schema(p, arrays, schema, meta)
    return arrays, meta
