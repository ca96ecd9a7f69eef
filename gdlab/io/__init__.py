"""Files in and out: atomic writes, safe model files (no pickle), tables (CSV / Parquet)."""

from gdlab.io.atomic import atomic_write_bytes, atomic_writer, clean_stale_temp_files
from gdlab.io.safe_npz import FORMAT_VERSION, ModelFileError, load_arrays, save_arrays

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "atomic_write_bytes",
    "atomic_writer",
    "clean_stale_temp_files",
    "load_arrays",
    "save_arrays",
]
