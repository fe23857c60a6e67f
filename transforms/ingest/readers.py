"""Row readers for the supported source formats, free of Beam so they are tested directly.

A reader turns one file into a stream of `RawRow` (a parsed row and where it came from) and
`Rejected` (a row that could not be parsed, with the reason). A bad row never stops the file:
the reader moves on to the next line or row. Row numbers are 1-based: the physical line for JSONL
and CSV (the header is line 1), the row index for Parquet and Hugging Face datasets.

Bytes that are not valid in the source encoding are kept through parsing as lone surrogates
(Python's `surrogateescape`), so a row with a bad byte is still split into its columns and its
rejection names the column; a JSON `\udc80` escape is caught the same way. No string with a lone
surrogate leaves a reader: it could not be written as UTF-8 further down.
"""

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.dead_letters import Rejected, preview, printable

FORMATS = ("jsonl", "csv", "parquet", "hf")
CSV_FIELD_LIMIT = 131_072  # the csv module's default cell limit, in characters


@dataclass(frozen=True)
class RawRow:
    """A parsed source row, before field mapping."""

    file: str
    row: int
    values: dict[str, Any]


def _undecodable(value: Any, column: str | None = None) -> str | None:
    """The column holding a lone surrogate (an undecodable byte or a JSON `\\udc..` escape), if any;
    `""` for a bare string."""
    if isinstance(value, str):
        return None if value.isascii() or _encodes(value) else (column or "")
    if isinstance(value, dict):
        pairs: Iterable = ((printable(str(key)) if column is None else column, part)
                           for key, item in value.items() for part in (key, item))
    elif isinstance(value, list | tuple):
        pairs = ((column, item) for item in value)
    else:
        return None
    found = (_undecodable(item, name) for name, item in pairs)
    return next((name for name in found if name is not None), None)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _checked(file: str, row: int, values: dict[str, Any], encoding: str) -> RawRow | Rejected:
    """The row, or its rejection when a column holds text that is not valid `encoding`."""
    column = _undecodable(values)
    if column is None:
        return RawRow(file, row, values)
    return Rejected(file, row, "undecodable_bytes", f"column {column!r} is not valid {encoding}",
                    field=column, raw=preview(values))


# Deeper JSON values are rejected: every later step (field mapping, Beam's coders, metadata JSON)
# walks values recursively and would hit Python's recursion limit at a few hundred levels.
MAX_NESTING = 64


def _nesting(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (0 for a scalar), without
    recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1)
                           for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """A binary stream's lines; Beam's decompressing `CompressedFile` has `readline` but cannot
    be iterated."""
    return iter(stream.readline, b"")


def read_jsonl(stream: BinaryIO, file: str, encoding: str = "utf-8") -> Iterator[RawRow | Rejected]:
    """One JSON object per line; blank lines are skipped."""
    for line_number, line in enumerate(_lines(stream), start=1):
        text = line.decode(_decoder(encoding, line_number == 1), errors="surrogateescape")
        if not text.strip():
            continue
        try:
            values = json.loads(text)
            too_deep = _nesting(values) > MAX_NESTING
        except RecursionError:  # hundreds of levels: the JSON parser itself gives up
            too_deep = True
        except json.JSONDecodeError as error:
            undecodable = _undecodable(text) is not None
            yield Rejected(file, line_number, "undecodable_bytes" if undecodable else "unparseable",
                           f"not valid {encoding}" if undecodable else f"invalid JSON: {error.msg}",
                           raw=preview(text.rstrip("\r\n")))
            continue
        if too_deep:
            yield Rejected(file, line_number, "unparseable",
                           f"JSON nested too deeply (more than {MAX_NESTING} levels)",
                           raw=preview(text.rstrip("\r\n")))
            continue
        if not isinstance(values, dict):
            yield Rejected(file, line_number, "unparseable",
                           f"expected a JSON object, got {type(values).__name__}",
                           raw=preview(text.rstrip("\r\n")))
            continue
        yield _checked(file, line_number, values, encoding)


def _decoder(encoding: str, first_line: bool) -> str:
    """A UTF-8 byte-order mark on the first line is not part of the data."""
    utf8 = codecs.lookup(encoding).name == "utf-8"
    return "utf-8-sig" if utf8 and first_line else encoding


class _DecodedLines:
    """The lines of a binary stream, decoded one by one, for `csv.reader`.

    The lines handed out since the last row boundary are remembered with their physical numbers,
    so a row can name the line it starts on, and after a parse error its later lines can be
    pushed back and read again.
    """

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self._stream = _lines(stream)
        self._encoding = encoding
        self._physical = 0
        self._pushed_back: list[tuple[int, str]] = []
        self._since_boundary: list[tuple[int, str]] = []

    def __iter__(self) -> "_DecodedLines":
        return self

    def __next__(self) -> str:
        if not self._pushed_back:
            line = next(self._stream)  # StopIteration ends the reader
            self._physical += 1
            text = line.decode(_decoder(self._encoding, self._physical == 1),
                               errors="surrogateescape")
            self._pushed_back.append((self._physical, text))
        number, text = self._pushed_back.pop(0)
        self._since_boundary.append((number, text))
        return text

    def row_boundary(self) -> list[tuple[int, str]]:
        """The (line number, text) pairs of the row just read; starts the next row."""
        lines, self._since_boundary = self._since_boundary, []
        return lines

    def push_back(self, lines: list[tuple[int, str]]) -> None:
        self._pushed_back = lines + self._pushed_back


def _closes_a_quoted_field(line: str) -> bool:
    """Whether a line ends a quoted field opened on an earlier line: a CSV line that stands
    alone holds an even number of quote characters, one that closes a field an odd number."""
    return line.count('"') % 2 == 1


def read_csv(stream: BinaryIO, file: str, encoding: str = "utf-8", delimiter: str = ",",
             field_limit: int = 0) -> Iterator[RawRow | Rejected]:
    """A header row, then one record per row; empty cells read as missing values.

    A row the csv module cannot parse costs only that row. When a stray quote opened a field that
    never closes properly, the row is only its first line: it goes to dead letter and parsing
    restarts on the next line, so the good rows the quote swallowed are still read. When the
    failing line closes a field opened on an earlier line, the lines between belong to the bad row
    and go to dead letter with it. A header that cannot be decoded or parsed makes the file
    unreadable: without column names no row can be read; so is an empty file, and a header that
    names a column twice (which of the two would be the field?). `field_limit` raises the csv
    module's cell limit (131,072 characters) for this file, e.g. to the longest text allowed; the
    limit is the module's global state, so it is set for each file and put back after it.
    """
    previous = csv.field_size_limit(max(CSV_FIELD_LIMIT, field_limit))
    try:
        yield from _csv_rows(stream, file, encoding, delimiter)
    finally:
        csv.field_size_limit(previous)


def _csv_rows(stream: BinaryIO, file: str, encoding: str,
              delimiter: str) -> Iterator[RawRow | Rejected]:
    lines = _DecodedLines(stream, encoding)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        try:
            cells: list[str] | csv.Error | None = next(reader)
        except StopIteration:
            cells = None
        except csv.Error as error:
            cells = error
        consumed = lines.row_boundary()
        if cells is None:
            if header is None:
                yield Rejected(file, None, "unreadable_file", "empty file: no header line")
            break
        start = consumed[0][0]
        if header is None:
            problem = (f"invalid CSV: {cells}" if isinstance(cells, csv.Error)
                       else f"not valid {encoding}" if _undecodable(cells) is not None else None)
            repeated = repeated_columns(cells) if not problem else []
            if repeated:
                problem = f"column name(s) {repeated} appear more than once"
            if problem:
                yield Rejected(file, start, "unreadable_file", f"header line: {problem}",
                               raw=preview(consumed[0][1].rstrip("\r\n")))
                return
            header = cells
            continue
        if isinstance(cells, csv.Error):
            whole_row = len(consumed) > 1 and _closes_a_quoted_field(consumed[-1][1])
            bad_lines = consumed if whole_row else consumed[:1]
            yield Rejected(file, start, "unparseable", f"invalid CSV: {cells}",
                           raw=preview("".join(text for _, text in bad_lines).rstrip("\r\n")))
            lines.push_back(consumed[len(bad_lines):])
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield Rejected(file, start, "unparseable",
                           f"expected {len(header)} columns, found {len(cells)}",
                           raw=preview(delimiter.join(cells)))
            continue
        values = {name: (cell if cell != "" else None) for name, cell in zip(header, cells)}
        yield _checked(file, start, values, encoding)


def _arrow_rows(file: str, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[RawRow | Rejected]:
    """Rows of Arrow batches. A string cell that is not valid UTF-8 rejects only its row."""
    row_number = 0
    for batch in batches:
        try:  # Arrow checks the UTF-8 of every string it converts: these rows are clean
            rows: list[RawRow | Rejected] = [
                RawRow(file, row_number + index, values)
                for index, values in enumerate(batch.to_pylist(), start=1)]
        except UnicodeDecodeError:
            rows = [_checked(file, row_number + index + 1, _arrow_row(batch, index), "utf-8")
                    for index in range(batch.num_rows)]
        yield from rows
        row_number += batch.num_rows


def _arrow_row(batch: pa.RecordBatch | pa.Table, index: int) -> dict[str, Any]:
    """One row, with invalid UTF-8 in a string column kept as lone surrogates for `_checked`."""
    values = {}
    for name, column in zip(batch.column_names, batch.columns):
        cell = column.slice(index, 1)
        try:
            [values[name]] = cell.to_pylist()
        except UnicodeDecodeError:
            # A nested column has no one string to keep: a lone surrogate stands in for it.
            textual = pa.types.is_string(cell.type) or pa.types.is_large_string(cell.type)
            values[name] = (cell.cast(pa.large_binary()).to_pylist()[0].decode(
                "utf-8", errors="surrogateescape") if textual else "\udcff")
    return values


def read_parquet(stream: BinaryIO, file: str) -> Iterator[RawRow | Rejected]:
    """Rows of a Parquet file, read one record batch at a time."""
    try:
        yield from _arrow_rows(file, pq.ParquetFile(stream).iter_batches(batch_size=4096))
    except (pa.ArrowException, OSError) as error:  # a damaged or non-Parquet file
        yield Rejected(file, None, "unreadable_file", f"cannot read Parquet: {error}")


def read_hf_dataset(path: str, split: str | None,
                    name: str | None = None) -> Iterator[RawRow | Rejected]:
    """Rows of a Hugging Face dataset saved with `save_to_disk` (a Dataset or one split of a
    DatasetDict); rows name the folder `name` (default: its path)."""
    import datasets

    name = name or path

    try:
        loaded = datasets.load_from_disk(path)
    except (OSError, ValueError) as error:  # a folder that is not a saved dataset
        yield Rejected(name, None, "unreadable_file", f"cannot load saved dataset: {error}")
        return
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            yield Rejected(name, None, "unreadable_file",
                           f"saved DatasetDict has splits {sorted(loaded)}; set hf_split to one")
            return
        loaded = loaded[split]
    yield from _arrow_rows(name, loaded.with_format("arrow").iter(batch_size=4096))


def repeated_columns(names: list[str]) -> list[str]:
    """Column names a header gives more than once, sorted."""
    return sorted({name for name in names if names.count(name) > 1})


def csv_header(stream: BinaryIO, encoding: str = "utf-8", delimiter: str = ",") -> list[str]:
    """The column names of a CSV stream's header line, in order (empty for an empty file)."""
    return next(csv.reader(_DecodedLines(stream, encoding), delimiter=delimiter), [])


# How many JSONL lines `source_columns` reads: JSON rows need not all have the same keys.
COLUMN_SAMPLE_LINES = 1000


def source_columns(path: str, format: str, encoding: str = "utf-8", delimiter: str = ",",
                   hf_split: str | None = None) -> set[str] | None:
    """The column names of a source file, read cheaply (a CSV header, a Parquet schema, the keys of
    the first JSONL objects, a saved dataset's features), so a misspelt field mapping is caught
    before any work; None when the file cannot tell (ingest then reports it row by row)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        if format == "hf":
            info = FileSystems.join(path, hf_split, "dataset_info.json") if hf_split else \
                FileSystems.join(path, "dataset_info.json")
            with FileSystems.open(info) as stream:
                return set(json.load(stream).get("features") or {}) or None
        with FileSystems.open(path) as stream:
            if format == "parquet":
                return set(pq.read_schema(stream).names)
            if format == "csv":
                header = csv_header(stream, encoding, delimiter)
                return set(header) or None
            keys: set[str] = set()
            for index, item in enumerate(read_jsonl(stream, path, encoding)):
                if index >= COLUMN_SAMPLE_LINES:
                    break
                if isinstance(item, RawRow):
                    keys.update(item.values)
            return keys or None
    except (OSError, ValueError, csv.Error, pa.ArrowException, RecursionError):
        # ingest will say what is wrong, row by row
        return None
