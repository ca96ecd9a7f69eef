"""Atomic file writes: a reader sees either the old file or the complete new one, never half.

The recipe (write to a temp file in the same directory, flush, fsync, ``os.replace``, fsync the
directory) is the one in REFERENCE.md section 6. The temp file lives in the *same* directory
because ``os.replace`` is only atomic within one file system. If the writer raises, or the
process dies, the previous file at ``path`` is untouched; a killed process may leave a temp file
behind, which :func:`clean_stale_temp_files` removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "AtomicWriteError",
    "atomic_write_bytes",
    "atomic_writer",
    "clean_stale_temp_files",
    "temp_name_for",
]


class AtomicWriteError(OSError):
    """Writing `path` failed (disk full, permissions, ...); the previous file is unchanged.

    ``errno`` is the system's; ``str()`` is one line naming the file, the cause and the fix.
    """

    def __str__(self) -> str:
        return str(self.strerror)


def _write_error(final: Path, exc: OSError) -> AtomicWriteError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    fix = ("the disk is full: free some space and run again" if full
           else "check the directory's permissions and free space")
    return AtomicWriteError(
        exc.errno or errno.EIO,
        f"{final}: could not be written ({exc.strerror or exc}); {fix}. The previous file "
        "at this path, if any, is unchanged.",
    )

# `.{name}.tmp-{pid}-{random}`: a leading dot hides it; pid + random make names unique
# between processes and between writers in the same process.
_TEMP_RE = re.compile(r"^\..+\.tmp-\d+-[0-9a-f]+$")


def temp_name_for(path: str | os.PathLike[str]) -> Path:
    """Return a fresh temp-file path next to `path`: ``.{name}.tmp-{pid}-{random}``."""
    p = Path(path)
    return p.with_name(f".{p.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Not every platform can open a directory (Windows);
    # there the rename is as durable as the OS makes it and we carry on.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file for writing; on clean exit it atomically replaces `path`.

    Parameters
    ----------
    path : path-like
        Final destination. Its directory must exist.
    mode : {'wb', 'w'}
        Binary or text (UTF-8) writing.

    Yields
    ------
    file object
        Write to it; do not close it yourself.

    Raises
    ------
    AtomicWriteError
        An ``OSError`` while writing, flushing, syncing or renaming (a full disk, ...), with a
        one-line message naming `path`.

    Notes
    -----
    On an exception inside the ``with`` block the temp file is removed, the exception
    propagates, and any previous file at `path` is left exactly as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(
            f"The 'mode' parameter of atomic_writer must be one of {{'wb', 'w'}}. "
            f"Got {mode!r} instead."
        )
    final = Path(path)
    directory = final.parent if str(final.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{final}: cannot write, the directory {str(directory)!r} does not exist; "
            "create it first."
        )
    tmp = temp_name_for(final)
    # 'x' mode: never clobber an existing file even if the random part collided.
    fh: IO[Any]
    if mode == "wb":
        fh = open(tmp, "xb")  # closed below on every path
    else:
        fh = open(tmp, "x", encoding="utf-8", newline="")
    try:
        try:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(tmp, final)
        except OSError as exc:
            if isinstance(exc, AtomicWriteError):
                raise
            raise _write_error(final, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            fh.close()  # may fail again to flush what a full disk refused
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (see :func:`atomic_writer`)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"The 'data' parameter of atomic_write_bytes must be bytes. "
            f"Got {type(data).__name__} instead."
        )
    with atomic_writer(path, "wb") as fh:
        fh.write(data)


def clean_stale_temp_files(
    directory: str | os.PathLike[str], *, max_age: float = 3600.0
) -> list[Path]:
    """Remove temp files ``.*.tmp-{pid}-{random}`` left in `directory` by killed writers.

    Parameters
    ----------
    directory : path-like
        Directory to clean (a missing directory is not an error: nothing to clean).
    max_age : float
        A temp file whose pid is a live process (possibly a writer at work right now, in
        this process or another) is kept unless it is older than `max_age` seconds; the age
        limit covers pids that the OS has since reused.

    Returns
    -------
    list of Path
        The files removed. Only names matching the exact temp pattern are touched.
    """
    d = Path(directory)
    removed: list[Path] = []
    if not d.is_dir():
        return removed
    now = time.time()
    for entry in d.iterdir():
        if not _TEMP_RE.match(entry.name):
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue  # its writer finished (renamed it) meanwhile
        if not stat.S_ISREG(st.st_mode):
            continue
        pid = int(entry.name.rsplit("-", 2)[-2])
        if _pid_alive(pid) and now - st.st_mtime < max_age:
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists but belongs to someone else
    except OSError:
        return False
    return True
