"""Row readers for the supported source formats, free of Beam so they are tested directly.

A reader turns one file into a stream of `RawRow` (a parsed row and where it came from) and
`Rejected` (a row that could not be parsed, with the reason). A bad row never stops the file:
the reader moves on to the next line or row. Row numbers are 1-based: the physical line for JSONL
and CSV (the header is line 1), the row index for Parquet and Hugging Face datasets.
"""

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

# Keep dead-letter rows readable: the raw text of a bad row is cut to this many characters.
RAW_PREVIEW_CHARS = 2000

FORMATS = ("jsonl", "csv", "parquet", "hf")


@dataclass(frozen=True)
class RawRow:
    """A parsed source row, before field mapping."""

    file: str
    row: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A source row that cannot become a record, and why."""

    file: str
    row: int | None
    reason: str
    detail: str
    field: str | None = None
    raw: str | None = None


def preview(raw: Any) -> str:
    """A bounded, printable form of a raw value for the dead-letter dataset."""
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return text[:RAW_PREVIEW_CHARS]


def _bytes_preview(line: bytes) -> str:
    return line.decode("utf-8", errors="backslashreplace").rstrip("\r\n")[:RAW_PREVIEW_CHARS]


def read_jsonl(stream: BinaryIO, file: str, encoding: str = "utf-8") -> Iterator[RawRow | Rejected]:
    """One JSON object per line; blank lines are skipped."""
    for line_number, line in enumerate(stream, start=1):
        try:
            text = line.decode(_decoder(encoding, line_number == 1))
        except UnicodeDecodeError as error:
            yield Rejected(file, line_number, "undecodable_bytes",
                           f"not valid {encoding} at byte {error.start}", raw=_bytes_preview(line))
            continue
        if not text.strip():
            continue
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            yield Rejected(file, line_number, "unparseable", f"invalid JSON: {error.msg}",
                           raw=preview(text.rstrip("\r\n")))
            continue
        if not isinstance(values, dict):
            yield Rejected(file, line_number, "unparseable",
                           f"expected a JSON object, got {type(values).__name__}",
                           raw=preview(text.rstrip("\r\n")))
            continue
        yield RawRow(file, line_number, values)


def _decoder(encoding: str, first_line: bool) -> str:
    """A UTF-8 byte-order mark on the first line is not part of the data."""
    utf8 = codecs.lookup(encoding).name == "utf-8"
    return "utf-8-sig" if utf8 and first_line else encoding


class _DecodedLines:
    """The lines of a binary stream, decoded one by one, for `csv.reader`.

    Undecodable lines are set aside as `Rejected`. The lines handed out since the last row
    boundary are remembered with their physical numbers, so a row can name the line it starts
    on, and after a parse error all but its first line can be pushed back and read again.
    """

    def __init__(self, stream: BinaryIO, file: str, encoding: str) -> None:
        self._stream = stream
        self._file = file
        self._encoding = encoding
        self._physical = 0
        self._pushed_back: list[tuple[int, str]] = []
        self._since_boundary: list[tuple[int, str]] = []
        self.rejected: list[Rejected] = []

    def __iter__(self) -> "_DecodedLines":
        return self

    def __next__(self) -> str:
        while not self._pushed_back:
            line = next(self._stream)  # StopIteration ends the reader
            self._physical += 1
            try:
                text = line.decode(_decoder(self._encoding, self._physical == 1))
            except UnicodeDecodeError as error:
                self.rejected.append(
                    Rejected(self._file, self._physical, "undecodable_bytes",
                             f"not valid {self._encoding} at byte {error.start}",
                             raw=_bytes_preview(line)))
                continue
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


def read_csv(stream: BinaryIO, file: str, encoding: str = "utf-8",
             delimiter: str = ",") -> Iterator[RawRow | Rejected]:
    """A header row, then one record per row; empty cells read as missing values.

    A row the csv module cannot parse (e.g. an unterminated quote, which would swallow the rest of
    the file) costs only its first line: that line goes to dead letter and parsing restarts on the
    next one, so the good rows after it are still read.
    """
    lines = _DecodedLines(stream, file, encoding)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        try:
            cells: list[str] | csv.Error | None = next(reader)
        except StopIteration:
            cells = None
        except csv.Error as error:
            cells = error
        yield from lines.rejected
        lines.rejected.clear()
        consumed = lines.row_boundary()
        if cells is None:
            break
        if isinstance(cells, csv.Error):
            (line_number, text), rest = consumed[0], consumed[1:]
            yield Rejected(file, line_number, "unparseable", f"invalid CSV: {cells}",
                           raw=preview(text.rstrip("\r\n")))
            lines.push_back(rest)
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        start = consumed[0][0]
        if header is None:
            header = cells
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield Rejected(file, start, "unparseable",
                           f"expected {len(header)} columns, found {len(cells)}",
                           raw=preview(delimiter.join(cells)))
            continue
        values = {name: (cell if cell != "" else None) for name, cell in zip(header, cells)}
        yield RawRow(file, start, values)


def read_parquet(stream: BinaryIO, file: str) -> Iterator[RawRow | Rejected]:
    """Rows of a Parquet file, read one record batch at a time."""
    try:
        parquet = pq.ParquetFile(stream)
        batches: Iterable = parquet.iter_batches(batch_size=4096)
        row_number = 0
        for batch in batches:
            for values in batch.to_pylist():
                row_number += 1
                yield RawRow(file, row_number, values)
    except (pa.ArrowException, OSError) as error:  # a damaged or non-Parquet file
        yield Rejected(file, None, "unreadable_file", f"cannot read Parquet: {error}")


def read_hf_dataset(path: str, split: str | None) -> Iterator[RawRow | Rejected]:
    """Rows of a Hugging Face dataset saved with `save_to_disk` (a Dataset or one split of a DatasetDict)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(path)
    except (OSError, ValueError) as error:  # a folder that is not a saved dataset
        yield Rejected(path, None, "unreadable_file", f"cannot load saved dataset: {error}")
        return
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            yield Rejected(path, None, "unreadable_file",
                           f"saved DatasetDict has splits {sorted(loaded)}; set hf_split to one")
            return
        loaded = loaded[split]
    for row_number, values in enumerate(loaded, start=1):
        yield RawRow(path, row_number, values)
