"""Tables in: CSV / TSV / Parquet reading with one-line errors, target inference, feature encoding.

Row numbers in every message
----------------------------
:func:`read_table` sets the DataFrame's index to where each row is in the file:

* CSV / TSV: the index is named ``"line"`` and holds the 1-based **physical line number** in
  the file where the row starts, header = line 1 (so with no blank lines the first data row
  is line 2; a quoted field spanning several lines does not shift the rows after it).
* Parquet: the index is named ``"row"`` and holds the 1-based data row number.

Messages say ``line 17`` or ``row 17`` accordingly; a DataFrame built by hand is reported as
``row <index label>``. Splits and subsets keep the labels, so errors found later (NaN in a
feature, an unseen category) still point into the file.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gdlab.core._validation import shorten
from gdlab.io._files import file_type_text
from gdlab.io.safe_npz import ModelFileError

__all__ = [
    "MISSING_RULES",
    "SUPPORTED_EXTENSIONS",
    "UNKNOWN_RULES",
    "DataFileError",
    "FeatureEncoder",
    "infer_task",
    "read_table",
    "sniff_sep",
    "split_features_target",
    "integer_class_limit",
    "task_rule",
    "task_summary",
]

SUPPORTED_EXTENSIONS = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq")
_NUMERIC_SHARE = 0.9  # >= 90% numbers among non-empty cells: a numeric column with bad cells
_N_SHOWN = 6  # classes listed by task_summary
_CELL_WIDTH = 80  # a value quoted in a message is cut to this many characters

Task = Literal["regression", "binary", "multiclass"]


class DataFileError(ValueError):
    """A data file (or a table from it) cannot be used; one line naming file, column and row."""


# ----------------------------------------------------------------------------------- helpers


def _src(path: str | os.PathLike[str] | None) -> str:
    return str(path) if path is not None else "data"


def _names(items: Iterable[Any], limit: int = 12) -> str:
    items = list(items)
    shown = ", ".join(_short(str(c), _CELL_WIDTH) for c in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _where(index: pd.Index, pos: int) -> str:
    """'line 17' / 'row 17' for the row at position `pos` (see the module docstring)."""
    label = index[pos]
    if index.name in ("line", "row"):
        return f"{index.name} {label}"
    return f"row {label!r}" if not isinstance(label, int | np.integer) else f"row {label}"


def _short(value: Any, width: int = 40) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[: width - 4] + "...'"


def _col(name: Any) -> str:
    """A column name quoted in a message, cut like any cell (a header line is cells too)."""
    return _short(str(name), _CELL_WIDTH)


def _kind_of(path: Path) -> tuple[str, str]:
    """Return (format, suffix) from the file name, or raise listing what is supported."""
    name = path.name.lower()
    for ext in sorted(SUPPORTED_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return ("parquet" if ext in (".parquet", ".pq") else "csv"), ext
    suffix = "".join(path.suffixes[-2:]) or "(none)"
    raise DataFileError(
        f"{path}: unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED_EXTENSIONS)} "
        "(rename the file or convert it)."
    )


# ---------------------------------------------------------------------------------- reading


def _open_text(path: Path, ext: str) -> io.TextIOBase:
    raw: Any = gzip.open(path, "rb") if ext.endswith(".gz") else open(path, "rb")
    # utf-8-sig drops a byte-order mark that Excel writes; newline="" as the csv module wants
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _is_blank(row: list[str]) -> bool:
    # pandas (skip_blank_lines=True) skips empty and whitespace-only lines; so do we, so that
    # row counts and line numbers agree with the DataFrame
    return not row or (len(row) == 1 and row[0].strip() == "")


def _first_bad_utf8_line(path: Path, ext: str) -> tuple[int, int]:
    """(line number, byte value) of the first line that is not UTF-8; only on the error path."""
    raw: Any = gzip.open(path, "rb") if ext.endswith(".gz") else open(path, "rb")
    with raw:
        for k, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return k, line[exc.start]
    return 0, 0


_SEP_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def _default_sep(ext: str) -> str:
    return "\t" if ext.startswith(".tsv") else ","


def sniff_sep(path: str | os.PathLike[str]) -> str:
    """The separator of a CSV / TSV file: :class:`csv.Sniffer` on its first 64 KiB, choosing
    among comma, semicolon, tab and pipe; the extension's own separator (tab for .tsv, comma
    otherwise) when the sniffer cannot tell or picks a character absent from the header."""
    p = Path(path)
    _, ext = _kind_of(p)
    default = _default_sep(ext)
    try:
        with _open_text(p, ext) as fh:
            sample = fh.read(1 << 16)
    except (OSError, EOFError, UnicodeDecodeError):
        return default  # reading the file reports the problem with its line
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        return default
    try:
        found = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=",;\t|").delimiter
    except csv.Error:
        return default
    return found if found in lines[0] else default


def _check_header(path: Path, header: list[str], delimiter: str) -> None:
    if len(header) == 1:
        # one column whose name holds another usual separator: the separator is wrong, and
        # every row would be read as one text cell
        for sep, word in ((";", "semicolon"), ("\t", "tab"), (",", "comma"), ("|", "pipe")):
            if sep != delimiter and sep in header[0]:
                raise DataFileError(
                    f"{path}: the header {_short(header[0], _CELL_WIDTH)} is one column "
                    f"containing {word}s but the separator is {_SEP_NAMES[delimiter]}; pass "
                    f"--sep {_SEP_NAMES[sep]} (or convert the file)."
                )
    seen: dict[str, int] = {}
    for j, name in enumerate(header, start=1):
        if name.strip() == "":
            hint = (
                " (an unnamed index column written by pandas' to_csv? re-save it with index=False)"
                if j == 1
                else ""
            )
            raise DataFileError(
                f"{path}: header field {j} is empty{hint}; give every column a name."
            )
        if name in seen:
            raise DataFileError(
                f"{path}: duplicate column name {_col(name)} in the header (columns "
                f"{seen[name]} and {j}); rename them so every column name is unique."
            )
        seen[name] = j


def _ragged(path: Path, line: int, got: int, n: int) -> DataFileError:
    few = "too few" if got < n else "too many"
    fields = f"{got} field" + ("s" if got != 1 else "")
    return DataFileError(
        f"{path}: line {line} has {fields} but the header has {n} ({few}); every row needs one "
        "value per column (an empty value is written as nothing between two separators)."
    )


_CHUNK = 1 << 24  # 16 MiB per block in the fast scan
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True  # ASCII whitespace, as str.strip() sees it


def _scan_csv_fast(
    path: Path, ext: str, delimiter: str
) -> tuple[list[str], NDArray[np.int64]] | None:
    """Vectorized field counts for the common CSV without quotes; None means "use csv module".

    Without a quote character a record is exactly one physical line and its field count is
    1 + the number of delimiters, so NumPy counts them per line in a few passes over the bytes
    (~10x faster than the csv module). Quotes, a lone CR line ending or non-UTF-8 bytes send
    the file to the exact path.
    """
    d = ord(delimiter)
    header: list[str] | None = None
    n = 0
    line_base = 0  # physical lines before the current block
    found: list[NDArray[np.int64]] = []
    raw: Any = gzip.open(path, "rb") if ext.endswith(".gz") else open(path, "rb")
    with raw:
        carry = b""
        first = True
        while True:
            chunk = raw.read(_CHUNK)
            buf = carry + chunk
            if first:
                first = False
                if buf.startswith(b"\xef\xbb\xbf"):
                    buf = buf[3:]
            if not chunk:
                if not buf:
                    break
                block, carry = (buf if buf.endswith(b"\n") else buf + b"\n"), b""
            else:
                cut = buf.rfind(b"\n")
                if cut < 0:
                    carry = buf
                    continue
                block, carry = buf[: cut + 1], buf[cut + 1 :]
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                return None
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                return None
            a = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(a == 10)
            starts = np.concatenate(([0], ends[:-1] + 1))
            # per-line counts from sorted positions: searchsorted beats a cumsum over every byte
            delims = np.flatnonzero(a == d)
            n_delim = np.searchsorted(delims, ends) - np.searchsorted(delims, starts)
            keep = n_delim > 0
            maybe_blank = np.flatnonzero(~keep)
            if maybe_blank.size:  # blank / whitespace-only lines are skipped, as pandas does
                solid = np.flatnonzero(~_SPACE[a])
                lo, hi = starts[maybe_blank], ends[maybe_blank]
                keep[maybe_blank] = np.searchsorted(solid, hi) > np.searchsorted(solid, lo)
            idx = np.flatnonzero(keep)
            if header is None and idx.size:
                h = int(idx[0])
                text = block[starts[h] : ends[h]].decode("utf-8").removesuffix("\r")
                header = text.split(delimiter)
                n = len(header)
                _check_header(path, header, delimiter)
                idx = idx[1:]
            if header is not None and idx.size:
                wrong = np.flatnonzero(n_delim[idx] != n - 1)
                if wrong.size:
                    k = int(idx[wrong[0]])
                    raise _ragged(path, line_base + k + 1, int(n_delim[k]) + 1, n)
                found.append(line_base + idx.astype(np.int64) + 1)
            line_base += int(ends.size)
            if not chunk:
                break
    if header is None:
        raise DataFileError(
            f"{path}: the file is empty; expected a header line with column names and at least "
            "one data row."
        )
    lines = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if lines.size == 0:
        raise DataFileError(
            f"{path}: no data rows (only the header line); expected at least one row."
        )
    return header, lines


def _scan_csv(path: Path, ext: str, *, fast: bool = True, delimiter: str | None = None
              ) -> tuple[list[str], NDArray[np.int64]]:
    """Check the raw CSV: header names and every row's field count; return header, row lines.

    pandas renames duplicate headers (``a``, ``a.1``) and pads short rows with NaN, silently;
    the csv module sees the file as written. Streaming: memory stays O(rows) int64 only.
    """
    delimiter = delimiter or _default_sep(ext)
    if fast:
        try:
            quick = _scan_csv_fast(path, ext, delimiter)
        except (OSError, EOFError) as exc:  # a damaged .gz
            raise DataFileError(f"{path}: cannot be read ({exc}); check the file.") from None
        if quick is not None:
            return quick
    start = 1  # physical line where the record being parsed starts
    with _open_text(path, ext) as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            header: list[str] | None = None
            for row in reader:
                if not _is_blank(row):
                    header = row
                    break
                start = reader.line_num + 1
            if header is None:
                raise DataFileError(
                    f"{path}: the file is empty; expected a header line with column names and "
                    "at least one data row."
                )
            n = len(header)
            _check_header(path, header, delimiter)
            lines: list[int] = []
            start = reader.line_num + 1
            for row in reader:
                if not _is_blank(row):
                    if len(row) != n:
                        raise _ragged(path, start, len(row), n)
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataFileError(
                f"{path}: the record starting at line {start} is not valid CSV ({exc}); check "
                'its quotes (an opening " needs a closing one).'
            ) from None
        except UnicodeDecodeError:
            line, byte = _first_bad_utf8_line(path, ext)
            raise DataFileError(
                f"{path}: line {line} is not UTF-8 text (byte 0x{byte:02x}); save the file as "
                "UTF-8 CSV, or if it is another format give it the right extension."
            ) from None
        except (OSError, EOFError) as exc:  # a damaged .gz
            raise DataFileError(f"{path}: cannot be read ({exc}); check the file.") from None
    if not lines:
        raise DataFileError(
            f"{path}: no data rows (only the header line); expected at least one row."
        )
    return header, np.asarray(lines, dtype=np.int64)


def _check_columns_exist(path: Path, wanted: Sequence[str], available: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in set(available)]
    if missing:
        raise DataFileError(
            f"{path}: no column(s) {_names(missing)}; available columns: {_names(available)}."
        )


def read_table(
    path: str | os.PathLike[str], *, columns: Sequence[str] | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read a CSV / TSV (optionally gzipped) or Parquet file, checking it on the way.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.csv.gz``, ``.tsv``, ``.tsv.gz``, ``.parquet`` or ``.pq`` (by extension).
    columns : sequence of str, optional
        Keep only these columns, in this order.
    sep : str, optional
        CSV / TSV separator; default: sniffed (:func:`sniff_sep`).

    Returns
    -------
    DataFrame
        shape (n_rows, n_columns). Index: file line numbers named ``"line"`` (CSV/TSV, header =
        line 1) or 1-based row numbers named ``"row"`` (Parquet). Empty cells and the usual NA
        markers (``NA``, ``NaN``, ``null``, ...) become NaN; they are reported later, with
        their line, by :func:`split_features_target` / :class:`FeatureEncoder`.

    Raises
    ------
    DataFileError
        One line naming the file (and line/column where it applies): missing file, unsupported
        extension, empty file, header only, empty or duplicate header names, rows with too few
        or too many fields, invalid quoting, not UTF-8, unreadable Parquet, unknown `columns`.
    """
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: no such file; check the path.")
    if p.is_dir():
        raise DataFileError(
            f"{p}: is a directory; pass a data file ({', '.join(SUPPORTED_EXTENSIONS)})."
        )
    if not p.is_file():  # stat, never open: opening a FIFO blocks until a writer comes
        raise DataFileError(
            f"{p}: is {file_type_text(p.stat().st_mode)}, not a regular file; pass a data file "
            f"({', '.join(SUPPORTED_EXTENSIONS)})."
        )
    fmt, ext = _kind_of(p)
    if p.stat().st_size == 0:
        raise DataFileError(
            f"{p}: the file is empty (0 bytes); expected a header line and at least one row."
        )
    if columns is not None:
        columns = [str(c) for c in columns]
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise DataFileError(f"{p}: columns {_names(dup)} requested more than once.")
    if fmt == "csv":
        if sep is None:
            sep = sniff_sep(p)
        elif len(sep) != 1 or sep in "\"\r\n":
            raise DataFileError(
                f"{p}: the separator must be one character other than a quote or a line break "
                f"(e.g. ',', ';' or tab); got {sep!r}."
            )
        header, lines = _scan_csv(p, ext, delimiter=sep)
        if columns is not None:
            _check_columns_exist(p, columns, header)
        try:
            df = pd.read_csv(
                p,
                sep=sep,
                encoding="utf-8-sig",
                usecols=columns,
                skip_blank_lines=True,
                low_memory=False,  # one dtype per column, not per chunk
            )
        except (ValueError, OSError) as exc:  # ParserError is a ValueError
            msg = str(exc).strip().replace("\n", " ")
            raise DataFileError(f"{p}: cannot be parsed as CSV ({msg}); check the file.") from None
        if len(df) != len(lines):
            # pandas and the csv module disagree on row boundaries (an unusual quoting corner)
            raise DataFileError(
                f"{p}: read {len(df)} rows with pandas but counted {len(lines)} data lines; "
                "check quoting around line breaks inside fields."
            )
        df.index = pd.Index(lines, name="line")
    else:
        try:
            df = pd.read_parquet(p, columns=columns)
        except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError family
            msg = str(exc).strip().replace("\n", " ")
            if columns is not None:
                try:
                    import pyarrow.parquet as pq

                    names = pq.ParquetFile(p).schema_arrow.names
                except Exception:
                    names = None
                if names is not None:
                    _check_columns_exist(p, columns, names)
            raise DataFileError(
                f"{p}: not a readable Parquet file ({type(exc).__name__}: {msg}); check that "
                "it is Parquet, or give it the extension of its real format."
            ) from None
        unnamed = all(n is None for n in df.index.names)
        if (unnamed and isinstance(df.index, pd.RangeIndex)) or df.index.name in ("line", "row"):
            pass  # pandas' default index, or the one read_table set: not data
        else:
            df = df.reset_index()  # another stored index is data: keep it as column(s)
        names = [str(c) for c in df.columns]
        dup = sorted({c for c in names if names.count(c) > 1})
        if dup:
            raise DataFileError(
                f"{p}: duplicate column name(s) {_names(dup)}; rename them so every column "
                "name is unique."
            )
        empty = [j + 1 for j, c in enumerate(names) if c.strip() == ""]
        if empty:
            raise DataFileError(f"{p}: column {empty[0]} has an empty name; give it a name.")
        df.columns = names
        if df.shape[1] == 0:
            raise DataFileError(f"{p}: the file has no columns; expected at least one.")
        if len(df) == 0:
            raise DataFileError(f"{p}: no data rows; expected at least one row.")
        df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    if columns is not None:
        df = df[list(columns)]  # usecols keeps file order; the caller asked for this order
    return df


# ---------------------------------------------------------------------- target and the task


def split_features_target(
    df: pd.DataFrame, target: str, *, path: str | os.PathLike[str] | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Split `df` into features and the target column.

    Parameters
    ----------
    df : DataFrame, shape (n_rows, n_columns)
        Usually from :func:`read_table`.
    target : str
        Name of the target column.
    path : path-like, optional
        Named in messages.

    Returns
    -------
    X_df : DataFrame, shape (n_rows, n_columns - 1)
    y : Series, shape (n_rows,)

    Raises
    ------
    DataFileError
        Target missing (lists the columns and the closest name), a missing (NaN/empty) or
        infinite target value (names the line), no feature column left.
    """
    src = _src(path)
    cols = [str(c) for c in df.columns]
    if target not in cols:
        folded = [c for c in cols if c.casefold() == target.casefold()]
        close = folded or difflib.get_close_matches(target, cols, n=1)
        hint = f" (did you mean {shorten(repr(close[0]), 80)}?)" if close else ""
        raise DataFileError(
            f"{src}: no target column {_col(target)}{hint}; available columns: {_names(cols)}."
        )
    y = df[target]
    missing = np.flatnonzero(y.isna().to_numpy())
    if missing.size:
        raise DataFileError(
            f"{src}: the target column {_col(target)} has a missing value at "
            f"{_where(df.index, int(missing[0]))} ({missing.size} missing in all); remove "
            "those rows or fill them in, or pass --missing drop (or mean, median, "
            "most-frequent: rows without a target are dropped)."
        )
    if pd.api.types.is_float_dtype(y.dtype):
        bad = np.flatnonzero(~np.isfinite(y.to_numpy(dtype=np.float64)))
        if bad.size:
            raise DataFileError(
                f"{src}: the target column {_col(target)} has an infinite value "
                f"{_short(y.iloc[int(bad[0])])} at {_where(df.index, int(bad[0]))}; fix or "
                "remove that row."
            )
    X_df = df.drop(columns=[target])
    if X_df.shape[1] == 0:
        raise DataFileError(
            f"{src}: no feature columns: {_col(target)} is the only column; a model needs at "
            "least one feature."
        )
    return X_df, y


def _numeric_view(
    s: pd.Series, *, what: str, src: str
) -> tuple[NDArray[np.float64] | None, str | None]:
    """Parse a column as numbers under the 90% rule.

    Returns (values, None) when numeric; (None, example) when categorical; raises when >= 90%
    of the non-empty cells are numbers but some are not (a numeric column with bad cells).
    """
    if pd.api.types.is_bool_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        return None, _short(s.dropna().iloc[0]) if s.notna().any() else None
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan), None
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        raise DataFileError(
            f"{src}: {what} has dtype {s.dtype}; gdlab models take numbers or categories, "
            "convert it (e.g. to seconds or to year/month columns) first."
        )
    if pd.api.types.is_complex_dtype(s.dtype):
        raise DataFileError(f"{src}: {what} holds complex numbers; gdlab models take real numbers.")
    present = s.notna().to_numpy()
    n_present = int(present.sum())
    if n_present == 0:  # all missing: numeric NaNs, reported as missing values by the caller
        return np.full(len(s), np.nan), None
    # Decide on the distinct values (few for a categorical column) and weigh them by count;
    # parse every cell only when the column turns out numeric.
    counts = s.value_counts(dropna=True, sort=False)
    uniq = pd.Series(counts.index.to_numpy(dtype=object), dtype=object)
    ok_u = pd.to_numeric(uniq, errors="coerce").notna().to_numpy(copy=True)
    # a literal 'nan' string parses to NaN: it looks like a number too (and is reported later
    # as a missing value)
    ok_u |= uniq.map(lambda v: str(v).strip().lower() in ("nan", "+nan", "-nan")).to_numpy(bool)
    n_numeric = int(counts.to_numpy()[ok_u].sum())
    if n_numeric >= _NUMERIC_SHARE * n_present:
        if not ok_u.all():
            bad_mask = s.isin(uniq[~ok_u].tolist()).to_numpy(dtype=bool, na_value=False)
            bad = np.flatnonzero(bad_mask)
            i = int(bad[0])
            raise DataFileError(
                f"{src}: {what} is numeric but {_where(s.index, i)} holds "
                f"{_short(s.iloc[i])} ({bad.size} non-numeric cell(s) in all); fix those cells "
                "(a missing value is an empty cell)."
            )
        parsed = pd.to_numeric(s.astype(object), errors="coerce")
        return parsed.to_numpy(dtype=np.float64, na_value=np.nan), None
    first = s.iloc[int(np.flatnonzero(present)[0])]
    return None, _short(first)


def _as_text_codes(s: pd.Series) -> tuple[NDArray[np.intp], list[str]]:
    """Factorize a categorical column; categories compared as ``str(value)``.

    Returns (codes into `uniques`, uniques as text); -1 codes mark missing cells.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), [str(u) for u in uniques]


def _as_text(s: pd.Series) -> NDArray[Any]:
    """A categorical column as an object array of ``str(value)``, NaN where a cell is missing."""
    codes, uniques = _as_text_codes(s)
    table = np.asarray(uniques + [np.nan], dtype=object)
    return table[codes]  # code -1 picks the trailing NaN


def _format_class(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return repr(int(v))
    return _short(v)


def _class_values(
    y: pd.Series | NDArray[Any] | Sequence[Any], src: str, name: str
) -> tuple[NDArray[Any], bool]:
    """Return (values, numeric) for the target, applying the 90% rule to text targets."""
    s = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y), name=name)
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise DataFileError(
            f"{src}: the target column {_col(name)} has a missing value at {_where(s.index, i)}; "
            "remove those rows or fill them in."
        )
    values, _ = _numeric_view(s, what=f"the target column {_col(name)}", src=src)
    if values is not None:
        if not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataFileError(
                f"{src}: the target column {_col(name)} has an infinite value at "
                f"{_where(s.index, i)}; fix or remove that row."
            )
        return values, True
    return s.astype("string").to_numpy(dtype=object), False


MAX_INTEGER_CLASSES = 20  # an integer target with more distinct values is a number


def default_max_classes(n: int) -> int:
    """Most distinct values a text target may have and still be read as classes."""
    return max(20, n // 200)


def integer_class_limit(n: int) -> int:
    """Most distinct values an integer target may have and still be read as class labels:
    ``min(20, floor(sqrt(n)))``, so that classes hold sqrt(n) rows each on average."""
    return min(MAX_INTEGER_CLASSES, math.isqrt(max(n, 0)))


def infer_task(
    y: pd.Series | NDArray[Any] | Sequence[Any],
    *,
    path: str | os.PathLike[str] | None = None,
    max_classes: int | None = None,
) -> Task:
    """Infer the learning task from the target values.

    Rules, in order:

    * a single distinct value -> error (a classifier needs two classes, and a constant target
      has nothing to regress);
    * exactly two distinct values (numbers, text or bool) -> ``"binary"``;
    * numbers with a non-integer value -> ``"regression"``;
    * integer-like numbers with k distinct values: class labels (``"multiclass"``) when k is at
      most `max_classes`, by default :func:`integer_class_limit` = ``min(20, floor(sqrt(n)))``;
      more -> ``"regression"`` (16 employment counts in 16 rows are numbers, not 16 classes);
    * text / category / bool with 3 .. ``max(20, n // 200)`` distinct values ->
      ``"multiclass"``; more -> error (an id-like column).

    :func:`gdlab.workflows.tabular.fit_table` adds one rule on the split: integer labels whose
    held-out rows hold a value absent from the training rows are numbers (regression).

    Parameters
    ----------
    y : Series or array-like, shape (n,)
    path : path-like, optional
        Named in messages.
    max_classes : int, optional
        Overrides the class limit of integer and text targets.

    Returns
    -------
    {'regression', 'binary', 'multiclass'}
    """
    src = _src(path)
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "target"
    values, numeric = _class_values(y, src, name)
    n = len(values)
    if n == 0:
        raise DataFileError(f"{src}: the target column {_col(name)} is empty; expected rows.")
    uniq = np.unique(values) if numeric else pd.unique(values)
    k = len(uniq)
    if k == 1:
        raise DataFileError(
            f"{src}: the target column {_col(name)} has a single class {_format_class(uniq[0])}; "
            "a classifier needs at least two (and a constant has nothing to regress)."
        )
    if k == 2:
        return "binary"
    if numeric:
        if not np.all(uniq == np.round(uniq)):
            return "regression"
        limit = integer_class_limit(n) if max_classes is None else int(max_classes)
        return "multiclass" if k <= limit else "regression"
    limit = default_max_classes(n) if max_classes is None else int(max_classes)
    if k <= limit:
        return "multiclass"
    raise DataFileError(
        f"{src}: the target column {_col(name)} has {k} distinct text values in {n} rows (more "
        f"than {limit}); that looks like an id, not classes; pick another target column."
    )


def task_rule(y: pd.Series | NDArray[Any] | Sequence[Any], task: Task) -> str:
    """Why :func:`infer_task` chose `task`, in words, with the override that changes it."""
    s = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    n = len(s)
    k = int(s.nunique())
    numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
    if task == "binary":
        return "two distinct values are two classes"
    if not numeric:
        return "text values are class labels"
    v = s.to_numpy(dtype=np.float64)
    if not np.all(v == np.round(v)):
        return "non-integer numbers are continuous"
    limit = integer_class_limit(n)
    if task == "multiclass":
        return (f"{k} distinct integers, at most min(20, sqrt({n} rows)) = {limit}, are class "
                "labels; --model linear treats them as numbers")
    return (f"{k} distinct integers in {n} rows, more than min(20, sqrt(rows)) = {limit}, are "
            "numbers, not class labels; --model softmax treats them as classes")


def task_summary(y: pd.Series | NDArray[Any] | Sequence[Any], task: Task) -> str:
    """One line saying what was inferred, e.g. for the CLI to print.

    ``target 'species': 3 classes ('setosa', 'versicolor', 'virginica') -> multiclass
    (softmax regression)``
    """
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "target"
    model = {
        "regression": "linear regression",
        "binary": "logistic regression",
        "multiclass": "softmax regression",
    }[task]
    s = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    if task == "regression":
        v = s.to_numpy(dtype=np.float64)
        what = f"continuous values in [{v.min():.6g}, {v.max():.6g}]"
    else:
        classes = sorted(s.unique().tolist(), key=lambda c: (str(type(c)), c))
        shown = ", ".join(_format_class(c) for c in classes[:_N_SHOWN])
        more = ", ..." if len(classes) > _N_SHOWN else ""
        what = f"{len(classes)} classes ({shown}{more})"
    return f"target {_col(name)}: {what} -> {task} ({model})"


# ----------------------------------------------------------------------------- the encoder


MISSING_RULES = ("error", "drop", "mean", "median", "most-frequent")
UNKNOWN_RULES = ("error", "ignore")
_MAX_LEVELS = 100  # without max_categories, more distinct values than this look like an id
_INFREQUENT = "infrequent"  # the one-hot column shared by the values max_categories groups


def _impute_strategy(missing: str, numeric: bool) -> str:
    """scikit-learn's SimpleImputer strategy for a column; categories take the most frequent."""
    if not numeric or missing == "most-frequent":
        return "most_frequent"
    return missing


def _numeric_imputer(missing: str, statistics: NDArray[np.float64]) -> Any:
    """A SimpleImputer whose statistics_ are `statistics` (fitted on that one row: the mean,
    median and most frequent value of one number are the number)."""
    from sklearn.impute import SimpleImputer

    return SimpleImputer(strategy=_impute_strategy(missing, True),
                         keep_empty_features=True).fit(statistics[None, :])


def _category_encoder(levels: list[str], infrequent: list[str]) -> Any:
    """A OneHotEncoder over `levels` that groups `infrequent` into one column.

    Rebuilt from the saved lists: fitted on the frequent levels twice and the infrequent ones
    once with ``min_frequency=2``, which selects exactly the saved infrequent levels.
    """
    from sklearn.preprocessing import OneHotEncoder

    rare = set(infrequent)
    data = [v for v in levels for _ in range(1 if v in rare else 2)]
    enc = OneHotEncoder(categories=[levels], handle_unknown="ignore", sparse_output=False,
                        dtype=np.float64, min_frequency=2 if rare else None)
    return enc.fit(np.asarray(data, dtype=object)[:, None])


class FeatureEncoder:
    """Turn a feature DataFrame into a float matrix, by column name, with checks.

    Fitted on the training features, it records the column names and which are numeric and
    which categorical (bool / category / text dtypes; a text column with >= 90% numbers is
    numeric with bad cells, an error). Missing cells are an error, or are filled by
    scikit-learn's ``SimpleImputer`` (numeric columns: mean, median or most frequent value;
    categorical columns: the most frequent value). Categorical columns are one-hot encoded by
    scikit-learn's ``OneHotEncoder`` with their sorted categories, the least frequent grouped
    into one column when ``max_categories`` is set; numeric columns can be standardized with
    the training mean and standard deviation (ddof=0; a zero-variance column gets scale 1).
    The state is plain arrays + JSON (:meth:`to_arrays`, :meth:`to_meta`, :meth:`from_state`;
    the scikit-learn objects are rebuilt from it), so it is saved inside a model file with
    :func:`gdlab.io.save_arrays`, no pickle.

    Parameters
    ----------
    categorical : {'onehot', 'error'}
        What to do with a non-numeric column.
    standardize : bool
        Standardize numeric columns.
    max_categories : int or None
        None: refuse a categorical column with more than 100 distinct values (an id-like
        column). An int N >= 2: at most N one-hot columns per categorical column, the N - 1
        most frequent values (in the fitting rows) and one ``name=infrequent`` column for the
        rest (scikit-learn's ``max_categories``).
    missing : {'error', 'drop', 'mean', 'median', 'most-frequent'}
        Missing feature cells: 'error' and 'drop' refuse them here ('drop' means the caller
        removes those rows first); the others fill them.
    unknown : {'error', 'ignore'}
        A category not seen in fitting: an error naming it, or all-zero one-hot columns.

    Attributes
    ----------
    feature_names_in_ : list of str, length n_features_in
        Training columns, in training order (the output column order follows it).
    numeric_columns_, categorical_columns_ : list of str
    categories_ : dict of str to list of str
        Sorted categories per categorical column (values compared as text).
    infrequent_ : dict of str to list of str
        Categories sharing the ``name=infrequent`` column (only with ``max_categories``).
    fill_ : dict of str to float or str
        The value filling a missing cell, per column (only when imputing).
    feature_names_out_ : list of str, length n_features_out
        ``name`` for numeric columns, ``name=value`` for one-hot columns.
    means_, scales_ : ndarray of float64, shape (n_features_out,)
        ``X_out = (X_raw - means_) / scales_``; 0 and 1 where nothing is done.
    """

    STATE_VERSION = 2

    def __init__(
        self,
        *,
        categorical: Literal["onehot", "error"] = "onehot",
        standardize: bool = False,
        max_categories: int | None = None,
        missing: str = "error",
        unknown: str = "error",
    ) -> None:
        if categorical not in ("onehot", "error"):
            raise ValueError(
                "The 'categorical' parameter of FeatureEncoder must be one of "
                f"{{'onehot', 'error'}}. Got {categorical!r} instead."
            )
        if not isinstance(standardize, bool | np.bool_):
            raise TypeError(
                "The 'standardize' parameter of FeatureEncoder must be a bool. "
                f"Got {standardize!r} instead."
            )
        if max_categories is not None and (
            isinstance(max_categories, bool)
            or not isinstance(max_categories, int)
            or max_categories < 2
        ):
            raise ValueError(
                "The 'max_categories' parameter of FeatureEncoder must be None or an int in the "
                f"range [2, inf). Got {max_categories!r} instead."
            )
        for name, value, allowed in (("missing", missing, MISSING_RULES),
                                     ("unknown", unknown, UNKNOWN_RULES)):
            if value not in allowed:
                raise ValueError(
                    f"The {name!r} parameter of FeatureEncoder must be one of "
                    f"{{{', '.join(repr(a) for a in allowed)}}}. Got {value!r} instead."
                )
        self.categorical = categorical
        self.standardize = bool(standardize)
        self.max_categories = max_categories
        self.missing = missing
        self.unknown = unknown

    @property
    def imputes(self) -> bool:
        """Whether missing cells are filled (``missing`` is mean, median or most-frequent)."""
        return self.missing not in ("error", "drop")

    # ---------------------------------------------------------------------------- fitting

    @staticmethod
    def _column_names(X_df: pd.DataFrame, src: str) -> list[str]:
        if not isinstance(X_df, pd.DataFrame):
            raise TypeError(
                f"FeatureEncoder needs a pandas DataFrame with named columns. "
                f"Got {type(X_df).__name__} instead."
            )
        names = [str(c) for c in X_df.columns]
        dup = sorted({c for c in names if names.count(c) > 1})
        if dup:
            raise DataFileError(
                f"{src}: duplicate column name(s) {_names(dup)}; rename them so every column "
                "name is unique."
            )
        return names

    def _check_finite(self, values: NDArray[np.float64], s: pd.Series, name: str,
                      src: str) -> None:
        bad = np.isinf(values) if self.imputes else ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            v = values[i]
            what = "a missing value (empty or NaN)" if np.isnan(v) else f"an infinite value ({v})"
            fix = ("fill or drop those rows, or pass --missing drop|mean|median|most-frequent"
                   if np.isnan(v) else "fix or drop those rows")
            raise DataFileError(
                f"{src}: column {_col(name)} has {what} at {_where(s.index, i)} "
                f"({int(bad.sum())} non-finite cell(s) in the column); {fix}."
            )

    def _check_category_missing(self, s: pd.Series, name: str, src: str) -> None:
        if self.imputes:
            return
        missing = np.flatnonzero(s.isna().to_numpy())
        if missing.size:
            raise DataFileError(
                f"{src}: categorical column {_col(name)} has a missing value at "
                f"{_where(s.index, int(missing[0]))} ({missing.size} in the column); fill it "
                "(e.g. with 'unknown'), drop those rows, or pass --missing "
                "drop|most-frequent."
            )

    def fit(
        self,
        X_df: pd.DataFrame,
        *,
        path: str | os.PathLike[str] | None = None,
        fit_rows: NDArray[np.intp] | None = None,
    ) -> FeatureEncoder:
        """Learn column names, kinds, categories, fill values, means and scales.

        Parameters
        ----------
        X_df : DataFrame, shape (n_rows, n_features_in)
        path : path-like, optional
            Named in messages.
        fit_rows : array of int, optional
            Row positions the statistics come from (fill values, category frequencies for
            ``max_categories``, means and scales), e.g. the training rows of a split; column
            kinds, checks and the category vocabulary look at every row, so a message points
            at the line wherever it is and a category seen only in held-out rows is known.
            Default: every row.
        """
        src = _src(path)
        names = self._column_names(X_df, src)
        if len(X_df) == 0:
            raise DataFileError(f"{src}: no rows to fit the feature encoder on.")
        if not names:
            raise DataFileError(f"{src}: no feature columns; a model needs at least one.")
        rows = np.arange(len(X_df)) if fit_rows is None else np.asarray(fit_rows, dtype=np.intp)
        numeric: list[str] = []
        cats: dict[str, list[str]] = {}
        texts: dict[str, NDArray[Any]] = {}
        raw_cols: list[NDArray[np.float64]] = []
        for name, col in zip(names, X_df.columns, strict=True):
            s = X_df[col]
            values, example = _numeric_view(s, what=f"column {_col(name)}", src=src)
            if values is not None:
                self._check_finite(values, s, name, src)
                numeric.append(name)
                raw_cols.append(values)
                continue
            if self.categorical == "error":
                raise DataFileError(
                    f"{src}: column {_col(name)} is not numeric (values like {example}); pass "
                    "--categorical onehot to one-hot encode it."
                )
            self._check_category_missing(s, name, src)
            text = _as_text(s)
            levels = sorted({v for v in text if isinstance(v, str)})
            if self.max_categories is None and len(levels) > _MAX_LEVELS:
                raise DataFileError(
                    f"{src}: column {_col(name)} has {len(levels)} distinct values (like "
                    f"{example}); one-hot encoding would add {len(levels)} columns (limit "
                    f"{_MAX_LEVELS}); drop the column (--drop {name}) or pass --max-categories "
                    "N to keep the N-1 most frequent values and group the rest."
                )
            cats[name] = levels
            texts[name] = text
        self.feature_names_in_ = names
        self.numeric_columns_ = numeric
        self.categorical_columns_ = [n for n in names if n in cats]
        self.categories_ = cats
        self.fill_: dict[str, float | str] = {}
        self.infrequent_: dict[str, list[str]] = {}
        numeric_fill = np.zeros(len(numeric))
        if self.imputes:
            if numeric:
                M = np.column_stack(raw_cols)[rows]
                from sklearn.impute import SimpleImputer

                imp = SimpleImputer(strategy=_impute_strategy(self.missing, True),
                                    keep_empty_features=True).fit(M)
                numeric_fill = np.asarray(imp.statistics_, dtype=np.float64)
                # a column with no value in the fitting rows is filled with 0
                numeric_fill[~np.isfinite(numeric_fill)] = 0.0
                self.fill_.update(zip(numeric, map(float, numeric_fill), strict=True))
            for name in self.categorical_columns_:
                from sklearn.impute import SimpleImputer

                col = texts[name][rows][:, None]
                present = [v for v in col[:, 0] if isinstance(v, str)]
                if not present:  # nothing to count in the fitting rows: the first category
                    self.fill_[name] = cats[name][0]
                    continue
                imp = SimpleImputer(strategy="most_frequent", missing_values=np.nan)
                self.fill_[name] = str(imp.fit(col).statistics_[0])
        self._numeric_fill = numeric_fill
        if self.max_categories is not None:
            from sklearn.preprocessing import OneHotEncoder

            for name in self.categorical_columns_:
                col = self._filled_text(texts[name], name)[rows]
                enc = OneHotEncoder(categories=[cats[name]], handle_unknown="ignore",
                                    max_categories=self.max_categories, sparse_output=False)
                enc.fit(col[:, None])
                rare = enc.infrequent_categories_[0]
                if rare is not None and len(rare):
                    self.infrequent_[name] = sorted(str(v) for v in rare)
        self._build()
        n_out = len(self.feature_names_out_)
        means = np.zeros(n_out)
        scales = np.ones(n_out)
        if self.standardize and numeric:
            pos = self._numeric_positions()
            M = np.column_stack(raw_cols)[rows]
            if self._numeric_imputer is not None:
                M = self._numeric_imputer.transform(M)
            means[pos] = M.mean(axis=0)
            sd = M.std(axis=0)
            # constant columns: dividing by ~0 would blow up; scale 1 leaves them at 0 after
            # centering, which the model then ignores
            tiny = sd <= 1e-12 * np.maximum(1.0, np.abs(means[pos]))
            sd[tiny] = 1.0
            scales[pos] = sd
        self.means_ = means
        self.scales_ = scales
        return self

    def _filled_text(self, text: NDArray[Any], name: str) -> NDArray[Any]:
        if name not in self.fill_:
            return text
        out = text.copy()
        out[[not isinstance(v, str) for v in out]] = self.fill_[name]
        return out

    def _build(self) -> None:
        """The scikit-learn objects and output names from the state (after fit or loading)."""
        self._numeric_imputer = (_numeric_imputer(self.missing, self._numeric_fill)
                                 if self.imputes and self.numeric_columns_ else None)
        self._onehot = {name: _category_encoder(self.categories_[name],
                                                self.infrequent_.get(name, []))
                        for name in self.categorical_columns_}
        out: list[str] = []
        for name in self.feature_names_in_:
            if name in self._onehot:
                out.extend(self._onehot_names(name))
            else:
                out.append(name)
        self.feature_names_out_ = out

    def _onehot_names(self, name: str) -> list[str]:
        rare = set(self.infrequent_.get(name, []))
        kept = [f"{name}={v}" for v in self.categories_[name] if v not in rare]
        return kept + ([f"{name}={_INFREQUENT}"] if rare else [])

    def _numeric_positions(self) -> NDArray[np.intp]:
        pos: list[int] = []
        j = 0
        for name in self.feature_names_in_:
            if name in self.categories_:
                j += len(self._onehot_names(name))
            else:
                pos.append(j)
                j += 1
        return np.asarray(pos, dtype=np.intp)

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_in_"):
            raise RuntimeError(
                "This FeatureEncoder is not fitted yet; call fit(X_df) or from_state(...) first."
            )

    @property
    def n_features_in_(self) -> int:
        self._check_fitted()
        return len(self.feature_names_in_)

    @property
    def n_features_out_(self) -> int:
        self._check_fitted()
        return len(self.feature_names_out_)

    # -------------------------------------------------------------------------- transform

    def transform(
        self,
        X_df: pd.DataFrame,
        *,
        allow_extra: bool = False,
        path: str | os.PathLike[str] | None = None,
        dtype: type[np.floating[Any]] | np.dtype[Any] = np.float64,
        unknown: str | None = None,
        order: Literal["C", "F"] = "C",
        copy: bool = True,
    ) -> NDArray[np.floating[Any]]:
        """Encode `X_df` into a contiguous float matrix, matching columns by name.

        Parameters
        ----------
        X_df : DataFrame, shape (n_rows, n_columns)
            Columns in any order; every training column must be present.
        allow_extra : bool
            Ignore columns not seen in training instead of refusing them.
        path : path-like, optional
            Named in messages.
        dtype : float64 or float32
        unknown : {'error', 'ignore'}, optional
            Overrides the encoder's ``unknown`` rule for this call.
        order : {'C', 'F'}
            Row-major (the default) or column-major result, the same values. pandas holds
            numeric columns column by column, so for them 'F' saves a transposing copy (the
            kernels of :mod:`gdlab.engines.kernels` read either order in one pass).
        copy : bool
            False lets the result share memory with `X_df` when its columns are float64 of
            that order, scaled in place (as scikit-learn's ``copy=False``): `X_df`'s values
            are then overwritten. For a frame the caller discards; it saves allocating the
            matrix, whose fresh pages cost more than the scaling.

        Returns
        -------
        ndarray, shape (n_rows, n_features_out_)
        """
        self._check_fitted()
        src = _src(path)
        out_dtype = np.dtype(dtype)
        if out_dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(
                f"The 'dtype' parameter of FeatureEncoder.transform must be float64 or float32. "
                f"Got {out_dtype} instead."
            )
        unknown = self.unknown if unknown is None else unknown
        if unknown not in UNKNOWN_RULES:
            raise ValueError(
                "The 'unknown' parameter of FeatureEncoder.transform must be one of "
                f"{{'error', 'ignore'}}. Got {unknown!r} instead."
            )
        if order not in ("C", "F"):
            raise ValueError(
                f"The 'order' parameter of FeatureEncoder.transform must be 'C' or 'F'. Got "
                f"{order!r} instead."
            )
        names = self._column_names(X_df, src)
        by_name = dict(zip(names, X_df.columns, strict=True))
        missing = [c for c in self.feature_names_in_ if c not in by_name]
        if missing:
            raise DataFileError(
                f"{src}: missing column(s) {_names(missing)} that the model was trained on; "
                "the data needs every training column (matched by name): "
                f"{_names(self.feature_names_in_)}."
            )
        extra = [c for c in names if c not in set(self.feature_names_in_)]
        if extra and not allow_extra:
            raise DataFileError(
                f"{src}: unexpected column(s) {_names(extra)} not seen in training; drop them "
                "(or allow extra columns to ignore them)."
            )
        fast = self._plain_numeric(X_df, by_name, out_dtype, order, copy)
        if fast is not None:
            return fast
        n = len(X_df)
        blocks: list[NDArray[np.float64]] = []
        numeric_cols: list[NDArray[np.float64]] = []
        numeric_at: list[int] = []
        for name in self.feature_names_in_:
            s = X_df[by_name[name]]
            if name in self.categories_:
                blocks.append(self._encode_category(s, name, src, unknown))
            else:
                values, example = _numeric_view(s, what=f"column {_col(name)}", src=src)
                if values is None:
                    raise DataFileError(
                        f"{src}: column {_col(name)} was numeric in training but holds text here "
                        f"(values like {example}); fix the data."
                    )
                self._check_finite(values, s, name, src)
                numeric_at.append(len(blocks))
                numeric_cols.append(values)
                blocks.append(np.empty((n, 0)))
        if numeric_cols:
            M = np.column_stack(numeric_cols)
            if self._numeric_imputer is not None:
                M = self._numeric_imputer.transform(M)
            for k, at in enumerate(numeric_at):
                blocks[at] = M[:, k : k + 1]
        X = np.hstack(blocks) if blocks else np.empty((n, 0))
        X = np.asarray(X, dtype=np.float64)
        if self.standardize:
            X = (X - self.means_) / self.scales_
        return np.asarray(X, dtype=out_dtype, order=order)

    def _plain_numeric(self, X_df: pd.DataFrame, by_name: dict[str, Any],
                       out_dtype: np.dtype[Any], order: Literal["C", "F"],
                       copy: bool = True
                       ) -> NDArray[np.floating[Any]] | None:
        """What :meth:`transform` returns, in whole-matrix operations, when every training
        column is numeric, no value is imputed, every column of ``X_df`` has a NumPy
        integer or float dtype and every value (before and after scaling) is finite; None
        otherwise (the column-by-column
        path then runs and names the first bad cell). The same numbers: each cell is converted
        to float64 and standardized by the same two operations."""
        if self.categories_ or self.imputes:
            return None
        cols = [by_name[name] for name in self.feature_names_in_]
        dtypes = [X_df[c].dtype for c in cols]
        if not all(isinstance(d, np.dtype) and d.kind in "iuf" for d in dtypes):
            return None
        frame = X_df if cols == list(X_df.columns) else X_df[cols]
        M = frame.to_numpy(dtype=np.float64, copy=False)  # often a view of pandas' block
        if not copy and out_dtype == np.float64 and M.flags[f"{order}_CONTIGUOUS"]:
            return self._scale_in_place(M)
        X = np.empty(M.shape, dtype=np.float64, order=order)
        if self.standardize:
            np.subtract(M, self.means_, out=X)
            np.divide(X, self.scales_, out=X)
        else:
            X[...] = M
        # one pass instead of isfinite's: a NaN or infinity anywhere makes the sum
        # non-finite (a sum that overflows sends the call down the column path as well)
        if not math.isfinite(float(X.sum())):
            return None
        return np.asarray(X, dtype=out_dtype, order=order)

    def _scale_in_place(self, M: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """:meth:`_plain_numeric`'s result in M's own memory (checked before it is changed,
        so that the column path can name a bad cell), or None."""
        if not math.isfinite(float(M.sum())):
            return None
        if not M.flags.writeable:
            try:  # pandas' copy-on-write marks its views read-only; the caller gave X_df up
                M.flags.writeable = True
            except ValueError:  # memory that is read-only itself
                return None
        if self.standardize:
            np.subtract(M, self.means_, out=M)
            np.divide(M, self.scales_, out=M)
        return M

    def _encode_category(self, s: pd.Series, name: str, src: str,
                         unknown: str) -> NDArray[np.float64]:
        self._check_category_missing(s, name, src)
        text = self._filled_text(_as_text(s), name)
        levels = self.categories_[name]
        if unknown == "error":
            codes = pd.Index(levels).get_indexer(text)
            unseen = np.flatnonzero(codes < 0)
            if unseen.size:
                i = int(unseen[0])
                raise DataFileError(
                    f"{src}: column {_col(name)} has the value {_short(text[i])} at "
                    f"{_where(s.index, i)}, not seen in training (known: {_names(levels)}); "
                    "drop those rows, pass --unknown-category ignore (all-zero one-hot columns) "
                    "or retrain with data that includes it."
                )
        encoder = self._onehot[name]
        if len(text) == 0:  # no rows (e.g. an empty held-out split): scikit-learn refuses them
            return np.zeros((0, len(encoder.get_feature_names_out())), dtype=np.float64)
        with warnings.catch_warnings():
            # unknown values with unknown='ignore': all-zero columns, as documented
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(encoder.transform(text[:, None]), dtype=np.float64)

    def fit_transform(
        self,
        X_df: pd.DataFrame,
        *,
        path: str | os.PathLike[str] | None = None,
        dtype: type[np.floating[Any]] | np.dtype[Any] = np.float64,
    ) -> NDArray[np.floating[Any]]:
        """``fit(X_df).transform(X_df)``."""
        return self.fit(X_df, path=path).transform(X_df, path=path, dtype=dtype)

    # ------------------------------------------------------------------------------ state

    def to_arrays(self, prefix: str = "encoder.") -> dict[str, NDArray[np.float64]]:
        """Arrays for :func:`gdlab.io.save_arrays`: ``{prefix}means``, ``{prefix}scales`` and
        ``{prefix}fill`` (the numeric columns' fill values, zeros when not imputing)."""
        self._check_fitted()
        return {f"{prefix}means": self.means_.copy(), f"{prefix}scales": self.scales_.copy(),
                f"{prefix}fill": self._numeric_fill.copy()}

    def to_meta(self) -> dict[str, Any]:
        """JSON-serializable description (names, kinds, categories, fill values, options)."""
        self._check_fitted()
        return {
            "state_version": self.STATE_VERSION,
            "categorical": self.categorical,
            "standardize": self.standardize,
            "max_categories": self.max_categories,
            "missing": self.missing,
            "unknown": self.unknown,
            "feature_names_in": list(self.feature_names_in_),
            "categories": {k: list(v) for k, v in self.categories_.items()},
            "infrequent": {k: list(v) for k, v in self.infrequent_.items()},
            "category_fill": {k: v for k, v in self.fill_.items() if k in self.categories_},
        }

    @staticmethod
    def schema(prefix: str = "encoder.") -> dict[str, Any]:
        """Schema entries for :func:`gdlab.io.load_arrays` covering :meth:`to_arrays`
        (``fill`` is absent from model files of state version 1)."""
        return {f"{prefix}means": ("f", (None,)), f"{prefix}scales": ("f", (None,)),
                f"{prefix}fill": ("f", (None,), False)}

    @classmethod
    def from_state(
        cls,
        arrays: Mapping[str, NDArray[Any]],
        meta: Mapping[str, Any],
        *,
        prefix: str = "encoder.",
        path: str | os.PathLike[str] | None = None,
    ) -> FeatureEncoder:
        """Rebuild a fitted encoder from :meth:`to_arrays` / :meth:`to_meta` output.

        Everything is checked (types, lengths, unique names, finite means, positive scales);
        a problem raises :class:`gdlab.io.ModelFileError` naming `path`. State version 1
        (before missing-cell rules) is read as ``missing='error'``, ``unknown='error'``.
        """
        src = _src(path)

        def bad(what: str) -> ModelFileError:
            return ModelFileError(
                f"{src}: the feature encoder state is invalid ({shorten(what, 200)}); the file was "
                "altered or not written by gdlab; re-save the model."
            )

        if not isinstance(meta, Mapping):
            raise bad(f"meta is a {type(meta).__name__}, expected a dict")
        version = meta.get("state_version")
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or version not in (1, cls.STATE_VERSION)
        ):
            raise bad(f"state_version {version!r}, this gdlab reads 1 and {cls.STATE_VERSION}")
        expected_keys = {
            "state_version",
            "categorical",
            "standardize",
            "max_categories",
            "feature_names_in",
            "categories",
        }
        if version == 2:
            expected_keys |= {"missing", "unknown", "infrequent", "category_fill"}
        if set(meta) != expected_keys:
            raise bad(
                f"unknown keys {sorted(set(meta) - expected_keys)}, missing keys "
                f"{sorted(expected_keys - set(meta))}"
            )
        names = meta["feature_names_in"]
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names) or not names:
            raise bad("feature_names_in must be a non-empty list of str")
        if len(set(names)) != len(names):
            raise bad("feature_names_in has duplicates")
        cats = meta["categories"]
        if not isinstance(cats, dict) or not set(cats) <= set(names):
            raise bad("categories must map feature names to lists")
        for k, levels in cats.items():
            ok = isinstance(levels, list) and len(levels) >= 1
            ok = ok and all(isinstance(v, str) for v in levels)
            if not ok or levels != sorted(set(levels)):
                raise bad(f"categories of {k!r} must be a sorted list of distinct str")
        infrequent = meta.get("infrequent", {})
        if not isinstance(infrequent, dict) or not set(infrequent) <= set(cats):
            raise bad("infrequent must map categorical columns to lists")
        for k, rare in infrequent.items():
            if (not isinstance(rare, list) or not rare or not set(rare) <= set(cats[k])
                    or len(rare) >= len(cats[k]) or rare != sorted(set(rare))):
                raise bad(f"infrequent of {k!r} must be a sorted list of some of its categories")
        category_fill = meta.get("category_fill", {})
        if not isinstance(category_fill, dict) or any(
                k not in cats or v not in cats[k] for k, v in category_fill.items()):
            raise bad("category_fill must map categorical columns to one of their categories")
        max_categories = meta["max_categories"]
        if version == 1:
            max_categories = None  # version 1 stored a refusal limit, not a grouping
        try:
            enc = cls(
                categorical=meta["categorical"],
                standardize=meta["standardize"],
                max_categories=max_categories,
                missing=meta.get("missing", "error"),
                unknown=meta.get("unknown", "error"),
            )
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from None
        if enc.imputes and set(category_fill) != set(cats):
            raise bad("category_fill must give a value for every categorical column")
        enc.feature_names_in_ = list(names)
        enc.categories_ = {k: list(cats[k]) for k in names if k in cats}
        enc.categorical_columns_ = [k for k in names if k in cats]
        enc.numeric_columns_ = [k for k in names if k not in cats]
        enc.infrequent_ = {k: list(v) for k, v in infrequent.items()}
        n_num = len(enc.numeric_columns_)
        fill = arrays.get(f"{prefix}fill", np.zeros(n_num))
        if not isinstance(fill, np.ndarray) or fill.dtype.kind != "f" or fill.shape != (n_num,):
            raise bad(f"array {prefix}fill has shape {getattr(fill, 'shape', None)}, expected "
                      f"({n_num},) float")
        if not np.isfinite(fill).all():
            raise bad(f"array {prefix}fill has non-finite values")
        enc._numeric_fill = np.asarray(fill, dtype=np.float64).copy()
        enc.fill_ = {}
        if enc.imputes:
            enc.fill_.update(zip(enc.numeric_columns_, map(float, enc._numeric_fill),
                                 strict=True))
            enc.fill_.update(category_fill)
        enc._build()
        n_out = len(enc.feature_names_out_)
        for key in ("means", "scales"):
            a = arrays.get(f"{prefix}{key}")
            if a is None:
                raise bad(f"array {prefix}{key} is missing")
            if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.shape != (n_out,):
                shape = getattr(a, "shape", None)
                raise bad(f"array {prefix}{key} has shape {shape}, expected ({n_out},) float")
            if not np.isfinite(a).all():
                raise bad(f"array {prefix}{key} has non-finite values")
        means = np.asarray(arrays[f"{prefix}means"], dtype=np.float64)
        scales = np.asarray(arrays[f"{prefix}scales"], dtype=np.float64)
        if (scales <= 0).any():
            raise bad(f"array {prefix}scales has non-positive values")
        enc.means_ = means.copy()
        enc.scales_ = scales.copy()
        return enc

    def __repr__(self) -> str:
        fitted = (
            f", {self.n_features_in_} -> {self.n_features_out_} columns"
            if hasattr(self, "feature_names_in_")
            else ""
        )
        return (
            f"FeatureEncoder(categorical={self.categorical!r}, standardize={self.standardize}"
            f"{fitted})"
        )
