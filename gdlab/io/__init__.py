"""Files in and out: atomic writes, safe array files (no pickle), tables (CSV / Parquet) and
checkpoints of the training state.

Imports :mod:`gdlab.core` only; the estimators' model files (:mod:`gdlab.estimators.persist`)
stand on these. Names are imported on first use: ``gdlab.io.safe_npz`` (model files) does
not pay for pandas, which only ``gdlab.io.tables`` imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "atomic_write_bytes": "gdlab.io.atomic",
    "atomic_writer": "gdlab.io.atomic",
    "clean_stale_temp_files": "gdlab.io.atomic",
    "FORMAT_VERSION": "gdlab.io.safe_npz",
    "ModelFileError": "gdlab.io.safe_npz",
    "load_arrays": "gdlab.io.safe_npz",
    "save_arrays": "gdlab.io.safe_npz",
    "SUPPORTED_EXTENSIONS": "gdlab.io.tables",
    "DataFileError": "gdlab.io.tables",
    "FeatureEncoder": "gdlab.io.tables",
    "infer_task": "gdlab.io.tables",
    "read_table": "gdlab.io.tables",
    "split_features_target": "gdlab.io.tables",
    "task_summary": "gdlab.io.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gdlab.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
