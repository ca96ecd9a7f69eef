"""Opening files named by users without trusting what they are.

A path can name a FIFO (``open`` blocks until a writer appears), a device (``/dev/zero``
never ends) or a directory. :func:`open_regular_file` opens without blocking and checks
what the open descriptor is, so the check and the read see the same file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

__all__ = ["NotRegularFileError", "file_type_text", "open_regular_file"]


class NotRegularFileError(OSError):
    """The path names a directory, FIFO, device or socket; ``str()`` says which."""

_TYPES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_type_text(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', ... for an ``st_mode`` that is not a regular file."""
    for test, text in _TYPES:
        if test(mode):
            return text
    return "not a regular file"


def open_regular_file(path: str | os.PathLike[str]) -> tuple[IO[bytes], int]:
    """Open `path` for binary reading if it is a regular file; return (file, size in bytes).

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    NotRegularFileError
        It is a directory, FIFO, device or socket: ``str(exc)`` is e.g. "is a FIFO (named
        pipe), not a regular file".
    OSError
        It cannot be opened (permissions, ...).
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(p, flags)  # O_NONBLOCK: a FIFO without a writer opens at once instead of hanging
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"is {file_type_text(st.st_mode)}, not a regular file")
        # O_NONBLOCK has no effect on regular files; clear it all the same for plain reads
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), int(st.st_size)
    except BaseException:
        os.close(fd)
        raise
