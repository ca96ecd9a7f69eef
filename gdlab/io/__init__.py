"""Files in and out: atomic writes, safe model files (no pickle), tables (CSV / Parquet)."""

from gdlab.io.atomic import atomic_write_bytes, atomic_writer, clean_stale_temp_files

__all__ = ["atomic_write_bytes", "atomic_writer", "clean_stale_temp_files"]
