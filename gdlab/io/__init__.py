"""Files in and out: atomic writes, safe array files (no pickle), tables (CSV / Parquet) and
checkpoints of the training state.

Imports :mod:`gdlab.core` only; the estimators' model files (:mod:`gdlab.estimators.persist`)
stand on these.
"""

from gdlab.io.atomic import atomic_write_bytes, atomic_writer, clean_stale_temp_files
from gdlab.io.safe_npz import FORMAT_VERSION, ModelFileError, load_arrays, save_arrays
from gdlab.io.tables import (
    SUPPORTED_EXTENSIONS,
    DataFileError,
    FeatureEncoder,
    infer_task,
    read_table,
    split_features_target,
    task_summary,
)

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_EXTENSIONS",
    "DataFileError",
    "FeatureEncoder",
    "ModelFileError",
    "atomic_write_bytes",
    "atomic_writer",
    "clean_stale_temp_files",
    "infer_task",
    "load_arrays",
    "read_table",
    "save_arrays",
    "split_features_target",
    "task_summary",
]
