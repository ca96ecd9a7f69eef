"""gdlab: gradient descent, understandable and fast."""

from __future__ import annotations

__version__ = "0.1.0"
