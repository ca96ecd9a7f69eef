"""Build model and checkpoint files by hand, down to the zip bytes, for the loader's tests.

`zip_bytes` writes an archive member by member with whatever sizes, CRCs and methods the
test declares (zipfile would refuse to write a lying archive); `npy_bytes` and `npy_header`
give a member's content; `gdlab_file` writes a gdlab file whose checksum is valid for the
arrays and header given, so the loader's checks after the checksum are reached too.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdlab.io.safe_npz import META_KEY, _digest

STORED, DEFLATED = 0, 8


@dataclass
class Member:
    """One zip member: `payload` is written as is (already compressed for DEFLATED)."""

    name: str
    payload: bytes
    method: int = STORED
    file_size: int | None = None  # declared uncompressed size; default len(content)
    crc: int | None = None
    flags: int = 0


def stored(name: str, content: bytes) -> Member:
    return Member(name, content, STORED, len(content), zlib.crc32(content))


def deflated(name: str, content: bytes) -> Member:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, c.compress(content) + c.flush(), DEFLATED, len(content),
                  zlib.crc32(content))


def zip_bytes(members: list[Member]) -> bytes:
    """A zip archive (no zip64) of `members`, each as declared."""
    out = io.BytesIO()
    central = []
    for m in members:
        name = m.name.encode("utf-8")
        size = len(m.payload) if m.file_size is None else m.file_size
        crc = zlib.crc32(m.payload) if m.crc is None else m.crc
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m.flags, m.method, 0, 33,
                              crc, len(m.payload), size, len(name), 0))
        out.write(name)
        out.write(m.payload)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, m.flags, m.method, 0,
                                   33, crc, len(m.payload), size, len(name), 0, 0, 0, 0, 0,
                                   offset) + name)
    start = out.tell()
    for c in central:
        out.write(c)
    n = len(central)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, out.tell() - start, start, 0))
    return out.getvalue()


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(a), allow_pickle=a.dtype.hasobject)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: Any, fortran: bool = False) -> bytes:
    """A version 1.0 .npy header declaring `shape` and `descr` (no data after it)."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    head = text.encode("latin1")
    pad = 64 - (10 + len(head) + 1) % 64
    head += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head


def zero_bomb(n_mib: int) -> bytes:
    """A raw deflate stream of `n_mib` MiB of zero bytes, about 1 KB per MiB, built at once.

    After the first MiB the compressor's window holds only zeros, so every further MiB
    compresses to the same bytes between sync flushes: repeat them.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    mib = bytes(2**20)
    first = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    again = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    return first + again * (n_mib - 1) + c.flush()


def header_for(kind: str, meta: Mapping[str, Any], **over: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"format": "gdlab", "format_version": 1, "kind": kind,
                         "meta": dict(meta)}
    h.update(over)
    return h


def meta_member(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                fix_sha: bool = True) -> bytes:
    h = dict(header)
    if fix_sha:
        h.pop("sha256", None)
        h["sha256"] = _digest(arrays, h)
    text = json.dumps(h, sort_keys=True, separators=(",", ":"))
    return npy_bytes(np.frombuffer(text.encode("utf-8"), dtype=np.uint8))


def gdlab_file(arrays: Mapping[str, np.ndarray], header: Mapping[str, Any],
               fix_sha: bool = True) -> bytes:
    """The bytes of a gdlab file holding `arrays` and `header` (checksum made valid)."""
    members = [stored(f"{k}.npy", npy_bytes(v)) for k, v in sorted(arrays.items())]
    members.append(stored(f"{META_KEY}.npy", meta_member(header, arrays, fix_sha)))
    return zip_bytes(members)
