"""Hyperparameter bookkeeping shared by optimizers and schedules."""

from __future__ import annotations

from typing import Any

from gdlab.core._validation import check_scalar


class HasParams:
    """Settings listed in ``_param_names``: checked, shown by repr, compared by equality."""

    _param_names: tuple[str, ...] = ()

    def _check(self, value: Any, name: str, **kwargs: Any) -> Any:
        return check_scalar(value, name, owner=type(self).__name__, **kwargs)

    def get_params(self) -> dict[str, Any]:
        """Settings as a plain dict (for fingerprints and metadata)."""
        return {name: getattr(self, name) for name in self._param_names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()
