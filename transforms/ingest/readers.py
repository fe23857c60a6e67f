"""Row readers for the supported source formats, free of Beam so they are tested directly.

A reader turns one file into a stream of `RawRow` (a parsed row and where it came from) and
`Rejected` (a row that could not be parsed, with the reason). A bad row never stops the file:
the reader moves on to the next line or row. Row numbers are 1-based: the physical line for JSONL
and CSV (the header is line 1), the row index for Parquet and Hugging Face datasets.
"""

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
            text = line.decode(encoding)
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


class _DecodedLines:
    """Decodes a binary stream line by line for `csv.reader`, setting aside undecodable lines.

    Tracks the physical line number so each CSV row can name the line it starts on.
    """

    def __init__(self, stream: BinaryIO, file: str, encoding: str) -> None:
        self._stream = stream
        self._file = file
        self._encoding = encoding
        self.line_number = 0
        self.rejected: list[Rejected] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._stream:
            self.line_number += 1
            try:
                yield line.decode(self._encoding)
            except UnicodeDecodeError as error:
                self.rejected.append(
                    Rejected(self._file, self.line_number, "undecodable_bytes",
                             f"not valid {self._encoding} at byte {error.start}",
                             raw=_bytes_preview(line))
                )


def read_csv(stream: BinaryIO, file: str, encoding: str = "utf-8",
             delimiter: str = ",") -> Iterator[RawRow | Rejected]:
    """A header row, then one record per row; empty cells read as missing values."""
    lines = _DecodedLines(stream, file, encoding)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    row_start = 1
    while True:
        try:
            cells: list[str] | csv.Error | None = next(reader)
        except StopIteration:
            cells = None
        except csv.Error as error:
            cells = error
        for rejected in lines.rejected:
            if rejected.row == row_start:  # a skipped line before the row starts
                row_start += 1
            yield rejected
        lines.rejected.clear()
        if cells is None:
            break
        if isinstance(cells, csv.Error):
            yield Rejected(file, row_start, "unparseable", f"invalid CSV: {cells}")
            row_start = lines.line_number + 1
            continue
        start, row_start = row_start, lines.line_number + 1
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
