"""Save a figure atomically: PNG, SVG or PDF by extension (GIFs are written by the animators)."""

from __future__ import annotations

import io as _io
import os
from pathlib import Path

from matplotlib.figure import Figure

FORMATS = ("png", "svg", "pdf")


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (format from the extension) atomically; return the path."""
    from gdlab.io.atomic import atomic_write_bytes

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(
            f"Cannot save a figure as {p.name!r}: the extension must be one of "
            f"{', '.join('.' + f for f in FORMATS)}. Got {p.suffix or 'no extension'!r}."
        )
    if not p.parent.exists():
        raise FileNotFoundError(f"Cannot save the figure: folder {str(p.parent)!r} does not "
                                "exist. Create it first.")
    buf = _io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write_bytes(p, buf.getvalue())
    return p
