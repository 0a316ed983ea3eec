"""Reading and writing transaction tables: CSV (the Kaggle ``creditcard.csv`` format) and Parquet.

CSV goes through pyarrow's parser, single-threaded: on two cores it reads the full 284,807-row
file in about a second (faster than its multi-threaded mode there, and far faster than pandas'
default engine), and in that mode it reports the line number of every malformed line, which the
validator passes on to the user.

Row numbers, everywhere in :mod:`fraudops.data`, are **CSV line numbers**: the header is line 1
and the first data row is line 2, which is also the row number a spreadsheet shows.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from fraudops.schema import COLUMNS, FEATURES, TARGET

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
#: The first line of a data row; the header is line 1.
FIRST_DATA_LINE = 2
#: The header, abridged for messages.
EXPECTED_HEADER = f"{COLUMNS[0]},{COLUMNS[1]},...,{COLUMNS[-3]},{COLUMNS[-2]},{COLUMNS[-1]}"

# Enough bytes to hold the header line (about 300 bytes for creditcard.csv) and then some.
_SNIFF_BYTES = 64 * 1024
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


class DataFormatError(ValueError):
    """The file cannot be read as a table; the message says why and, where known, which line.

    Attributes:
        column: the column concerned, if any.
        line: the 1-based line of the file concerned, if any.
    """

    def __init__(self, message: str, *, column: str | None = None, line: int | None = None):
        super().__init__(message)
        self.column = column
        self.line = line


@dataclass(frozen=True)
class BadLine:
    """A CSV line whose number of fields differs from the header's."""

    line: int
    fields: int
    expected: int
    text: str


@dataclass(frozen=True)
class RawTable:
    """What a data file holds, read tolerantly: the rows that parse and the lines that do not.

    Attributes:
        frame: the parsed rows, columns exactly as in the file (numeric where they parse).
        lines: the file line number of each row of ``frame`` (header = line 1).
        bad_lines: lines skipped because their field count differs from the header's.
        empty_lines: blank lines (or rows with every field empty), skipped.
        header_lines: copies of the header line inside the data, skipped.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    bad_lines: tuple[BadLine, ...] = ()
    empty_lines: tuple[int, ...] = ()
    header_lines: tuple[int, ...] = ()


def file_format(path: str | os.PathLike) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the file name's suffix (case-insensitive).

    Raises:
        DataFormatError: for any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    supported = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise DataFormatError(
        f"unsupported file type {suffix or '(no suffix)'!r} for {path}: use one of {supported}"
    )


def read_header(path: str | os.PathLike) -> tuple[list[str], bool]:
    """Check that a CSV file starts with a readable, comma-separated header line.

    Returns:
        The column names and whether the file has any line after the header.

    Raises:
        FileNotFoundError: when there is no such file.
        DataFormatError: an empty file, a binary or UTF-16 file, a header that is not UTF-8,
            or a header separated by ``;``, tabs or ``|`` instead of commas.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise DataFormatError(f"{path} is empty (0 bytes): expected a header line and data rows")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head:
        # Excel's "Unicode text" export is UTF-16, full of NUL bytes; so is any binary file.
        raise DataFormatError(
            f"{path} contains NUL bytes: it looks like a binary or UTF-16 file; "
            "save it as a UTF-8 (or ASCII) comma-separated file"
        )
    head = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is harmless
    first, newline, rest = head.partition(b"\n")
    try:
        header = first.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"the header line of {path} is not UTF-8 text (byte {first[exc.start]:#04x} at "
            f"character {exc.start + 1}); save the file as UTF-8",
            line=1,
        ) from None
    if not header.strip():
        raise DataFormatError(
            f"line 1 of {path} is blank: expected the header {EXPECTED_HEADER}", line=1
        )
    if "," not in header:
        for delimiter, name in _OTHER_DELIMITERS.items():
            if delimiter in header:
                raise DataFormatError(
                    f"{path} looks like {name}-separated; expected comma-separated "
                    f"with the header {EXPECTED_HEADER}",
                    line=1,
                )
    names = next(csv.reader([header]))
    whole_file_read = size <= _SNIFF_BYTES
    has_rows = bool(newline) and not (whole_file_read and not rest.strip())
    return names, has_rows


def read_csv(path: str | os.PathLike) -> RawTable:
    """Read a CSV file tolerantly, keeping the line number of every row.

    Lines with the wrong number of fields are skipped and listed in ``bad_lines``; copies of
    the header line inside the data (concatenated files) in ``header_lines``; blank lines in
    ``empty_lines``. A column whose values do not all parse as numbers keeps its text (or, for
    bytes that are not UTF-8, its raw ``bytes``) so the validator can point at them.

    Raises:
        FileNotFoundError, DataFormatError: see :func:`read_header`.
    """
    names, has_rows = read_header(path)
    if not has_rows:
        return RawTable(pd.DataFrame(columns=names, dtype=object), _no_lines())
    bad: list[BadLine] = []

    def skip(row: pa_csv.InvalidRow) -> str:
        bad.append(BadLine(row.number, row.actual_columns, row.expected_columns, row.text))
        return "skip"

    parse = pa_csv.ParseOptions(invalid_row_handler=skip, ignore_empty_lines=False)
    # One thread: faster on small machines, and the only mode that knows line numbers.
    read = pa_csv.ReadOptions(use_threads=False)
    try:
        table = pa_csv.read_csv(path, read_options=read, parse_options=parse)
    except pa.ArrowInvalid:
        # Column types are guessed from the first block (1 MB). Text further down just turns
        # a number column into text, but bytes that are not UTF-8 in a text column fail the
        # whole read: read every column as bytes instead and narrow each one on its own below.
        bad.clear()
        as_bytes = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.binary()), strings_can_be_null=True
        )
        try:
            table = pa_csv.read_csv(
                path, read_options=read, parse_options=parse, convert_options=as_bytes
            )
        except pa.ArrowInvalid as exc:
            raise DataFormatError(f"cannot parse {path} as CSV: {exc}") from None
    lines = _line_numbers(table.num_rows, [b.line for b in bad])
    # With ignore_empty_lines=False a blank line arrives as a row of nulls at its true position,
    # which keeps the line numbers right. Drop those rows, and repeated headers, before typing
    # the columns: one stray header line would otherwise turn all 31 columns into text.
    empty, header = _empty_rows(table), _header_rows(table)
    keep = ~(empty | header)
    if not keep.all():
        table = table.filter(pa.array(keep))
    table = pa.table([_narrow(column) for column in table.columns], names=table.column_names)
    return RawTable(
        table.to_pandas(),
        lines[keep],
        bad_lines=tuple(bad),
        empty_lines=tuple(int(n) for n in lines[empty]),
        header_lines=tuple(int(n) for n in lines[header]),
    )


def read_parquet(path: str | os.PathLike) -> RawTable:
    """Read a Parquet file; row numbers are those the rows would have in a CSV copy.

    Raises:
        FileNotFoundError: when there is no such file.
        DataFormatError: when the file is empty or not Parquet.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise DataFormatError(f"{path} is empty (0 bytes): expected a Parquet file")
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"cannot read {path} as Parquet: {exc}") from None
    return RawTable(frame.reset_index(drop=True), _line_numbers(len(frame), []))


def read_table(path: str | os.PathLike) -> RawTable:
    """Read a CSV or Parquet file (by suffix) tolerantly; see :func:`read_csv`."""
    if file_format(path) == "parquet":
        return read_parquet(path)
    return read_csv(path)


def load(path: str | os.PathLike) -> pd.DataFrame:
    """Load a transaction table from CSV (Kaggle's quoted format or plain) or Parquet.

    Columns come back as in the file (use :func:`fraudops.data.validate_frame` to check them);
    numeric schema features become float64 and ``Class`` int64 when all its values are whole
    numbers, so a CSV round trip gives the same dtypes as the generator. Blank lines are skipped.

    Args:
        path: a ``.csv``, ``.parquet`` or ``.pq`` file.

    Raises:
        FileNotFoundError: when there is no such file.
        DataFormatError: unknown suffix, unreadable file, a line with the wrong field count or
            a repeated header line.
    """
    raw = read_table(path)
    report = f"run 'fraudops data validate {path}' for a full report"
    if raw.bad_lines:
        first = raw.bad_lines[0]
        more = f" (and {len(raw.bad_lines) - 1} more such lines)" if len(raw.bad_lines) > 1 else ""
        raise DataFormatError(
            f"line {first.line} of {path} has {first.fields} fields, expected {first.expected}"
            f"{more}; {report}",
            line=first.line,
        )
    if raw.header_lines:
        line = raw.header_lines[0]
        raise DataFormatError(
            f"line {line} of {path} repeats the header line (concatenated files?); {report}",
            line=line,
        )
    return _tidy_types(raw.frame)


def save(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as CSV or Parquet (by suffix), creating parent directories.

    CSV has a plain (unquoted) header, no index, and floats in shortest round-trip form, so
    ``load(save(df, p))`` gives back the same values. The file appears atomically: a reader
    (or DVC) never sees half a file.

    Returns:
        The path written.

    Raises:
        DataFormatError: for a suffix other than .csv, .parquet or .pq.
    """
    path = Path(path)
    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if kind == "parquet":
            df.to_parquet(partial, index=False)
        else:
            _write_csv(df, partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    # pyarrow writes 284,807 rows in under 2 s where DataFrame.to_csv takes about 10 s. It
    # always quotes the header, so write a plain one (quoted only where needed) first.
    table = pa.Table.from_pandas(df, preserve_index=False)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow(table.column_names)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with path.open("ab") as handle:
        pa_csv.write_csv(table, handle, write_options=options)


def _narrow(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Give a text column the narrowest type all its values fit: int64, float64, else text.

    Bytes that are not valid UTF-8 stay raw bytes, for the validator to point at.
    """
    if pa.types.is_binary(column.type):
        try:
            column = pc.cast(column, pa.string())
        except pa.ArrowInvalid:
            return column
    if not pa.types.is_string(column.type):
        return column
    for kind in (pa.int64(), pa.float64()):
        try:
            return pc.cast(column, kind)
        except pa.ArrowInvalid:
            continue
    return column


def _empty_rows(table: pa.Table) -> np.ndarray:
    """Rows with every field empty (blank lines)."""
    mask = np.ones(table.num_rows, dtype=bool)
    for column in table.columns:
        mask &= pc.is_null(column).to_numpy(zero_copy_only=False)
    return mask


def _header_rows(table: pa.Table) -> np.ndarray:
    """Rows whose every field equals its column name: the header line repeated in the data."""
    mask = np.ones(table.num_rows, dtype=bool)
    for column, name in zip(table.columns, table.column_names, strict=True):
        if pa.types.is_binary(column.type):
            target = pa.scalar(name.encode(), pa.binary())
        elif pa.types.is_string(column.type):
            target = pa.scalar(name, pa.string())
        else:
            return np.zeros(table.num_rows, dtype=bool)  # a number column has no header text
        mask &= pc.fill_null(pc.equal(column, target), False).to_numpy(zero_copy_only=False)
    return mask


def _line_numbers(n_rows: int, skipped: list[int]) -> np.ndarray:
    """File line of each parsed row, given the (sorted) lines that were skipped."""
    lines = np.arange(n_rows, dtype=np.int64) + FIRST_DATA_LINE
    if skipped:
        # Row i moves down one line for every skipped line at or before where it lands.
        skipped_arr = np.asarray(sorted(skipped), dtype=np.int64)
        slots = skipped_arr - FIRST_DATA_LINE - np.arange(len(skipped_arr))
        lines += np.searchsorted(slots, np.arange(n_rows), side="right")
    return lines


def _no_lines() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _tidy_types(df: pd.DataFrame) -> pd.DataFrame:
    """float64 numeric features, int64 Class when it holds whole numbers only; text untouched.

    Changes ``df`` (a frame just read, owned by the caller) in place and returns it.
    """
    for position, name in enumerate(df.columns):
        column = df.iloc[:, position]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        if name in FEATURES and column.dtype != "float64":
            df.isetitem(position, column.astype("float64"))
        elif name == TARGET and column.dtype != "int64" and _whole_numbers(column):
            df.isetitem(position, column.astype("int64"))
    return df


def _whole_numbers(column: pd.Series) -> bool:
    return bool(column.notna().all() and (column % 1 == 0).all())
