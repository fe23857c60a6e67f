"""Checks of the files a config names, before any work: every source matches files that can be
read with its mapping, and the output root is on a filesystem Beam can use. Each failure is one
ConfigError naming the key, exit code 2."""

import csv
import json
import logging
from pathlib import Path

from apache_beam.io.filesystems import FileSystems

from pipelines.config import ConfigError, RebuildConfig, SourceConfig, load_config
from transforms.ingest.readers import (
    COLUMN_SAMPLE_LINES,
    csv_header,
    repeated_columns,
    source_columns,
)
from transforms.ingest.records import CANONICAL_FIELDS

LOG = logging.getLogger(__name__)


def matched_files(config: RebuildConfig, source: SourceConfig) -> list[str]:
    """The files (or, for `hf`, the saved-dataset folder) a source reads."""
    pattern = config.resolve(source.path)
    if source.format == "hf":
        return [pattern] if FileSystems.exists(pattern) else []
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list)


def load_checked_config(path: str | Path) -> RebuildConfig:
    """A config file loaded, type-checked and its sources checked: ready to plan."""
    config = load_config(path)
    check_sources(config, path)
    return config


def check_sources(config: RebuildConfig, path: str | Path) -> None:
    """Every source matches readable files whose columns cover the mapping; `path` is the
    config file, named in the messages."""
    try:
        FileSystems.get_filesystem(config.root)
    except ValueError as error:  # e.g. gs:// without the gcp extra installed
        raise ConfigError(f"{path}: output_root: cannot use {config.root!r}: {error}") from None
    for index, source in enumerate(config.sources):
        try:
            found = matched_files(config, source)
        except (ValueError, OSError) as error:  # e.g. gs:// without the gcp extra installed
            raise ConfigError(f"{path}: sources[{index}].path: cannot list "
                              f"{config.resolve(source.path)!r}: {error}") from None
        if not found:
            raise ConfigError(f"{path}: sources[{index}].path: no file matches "
                              f"{config.resolve(source.path)!r}")
        folders = [f for f in found if source.format != "hf" and Path(f).is_dir()]
        if folders:
            raise ConfigError(f"{path}: sources[{index}].path: {folders[0]!r} is a folder; "
                              f"use a glob such as '{folders[0]}/*.{source.format}'")
        if source.format == "hf":
            _check_hf_split(config.resolve(source.path), source.hf_split,
                            f"{path}: sources[{index}].hf_split")
        if source.format in ("jsonl", "parquet"):
            _check_format(source, found[0], f"{path}: sources[{index}]")
        if source.format == "csv":
            _check_csv_header(source, found[0], f"{path}: sources[{index}]")
        _check_mapped_columns(source, found[0], f"{path}: sources[{index}]")




# What is read of a source's first file to recognise its format.
SNIFF_BYTES = 64 << 10


def _check_format(source: SourceConfig, first_file: str, where: str) -> None:
    """The first file looks like the configured format: a JSON document given as `jsonl` would
    otherwise send every row to dead letter, and only after the whole ingest."""
    try:
        with FileSystems.open(first_file) as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError:
        return  # ingest reports an unreadable file
    if source.format == "parquet":
        if head and not head.startswith(b"PAR1"):
            raise ConfigError(f"{where}.format: {first_file} is not a Parquet file (it does not "
                              "start with the Parquet magic bytes); check format")
        return
    text = head.decode(source.encoding, errors="replace").lstrip("\ufeff \t\r\n")
    first_line = text.split("\n", 1)[0].strip()
    if not first_line:
        return
    try:
        parsed = json.loads(first_line)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return
    looks = ("a JSON array" if first_line.startswith("[") else
             "one JSON object spread over several lines" if _multiline_object(text, first_line)
             else None)  # a broken first row is ingest's to dead-letter
    if looks:
        raise ConfigError(
            f"{where}.format: {first_file} is not JSONL (one JSON object per line): it looks like "
            f"{looks}. refinery streams JSONL line by line and does not read a whole JSON "
            "document (it would have to hold the file in memory on one worker); convert it, "
            "e.g. `jq -c '.[]' FILE > FILE.jsonl` for an array of objects")


def _multiline_object(text: str, first_line: str) -> bool:
    """Whether the text starts with a JSON object that spans more than its first line."""
    if first_line == "{":
        return True
    try:
        value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False
    return isinstance(value, dict) and end > len(first_line)


def _check_csv_header(source: SourceConfig, first_file: str, where: str) -> None:
    """A CSV header that names a column twice would make one of them win silently."""
    try:
        with FileSystems.open(first_file) as stream:
            header = csv_header(stream, source.encoding, source.csv_delimiter)
    except (OSError, ValueError, csv.Error):
        return  # ingest reports an unreadable file
    repeated = repeated_columns(header)
    if repeated:
        raise ConfigError(f"{where}.path: the header of {first_file} names column(s) {repeated} "
                          "more than once; rename them")


def _check_mapped_columns(source: SourceConfig, first_file: str, where: str) -> None:
    """Every required field's column must be in the source's first file: a misspelt mapping
    would otherwise send every row to dead letter. A mapped optional field may be missing from
    one file (it reads as null), so its absence is only a warning."""
    columns = source_columns(first_file, source.format, source.encoding, source.csv_delimiter,
                             source.hf_split)
    if columns is None:
        return
    required, _ = CANONICAL_FIELDS[source.kind]
    sampled = f" (first {COLUMN_SAMPLE_LINES:,} lines)" if source.format == "jsonl" else ""
    for canonical in dict.fromkeys([*required, *source.fields]):
        column = source.fields.get(canonical, canonical)
        if column in columns:
            continue
        missing = f"column {column!r} is not in {first_file}{sampled}; its columns: {sorted(columns)}"
        if canonical not in required:
            LOG.warning("%s.fields.%s: %s; the field will be null where the column is absent",
                        where, canonical, missing)
        elif canonical in source.fields:
            raise ConfigError(f"{where}.fields.{canonical}: {missing}")
        else:
            raise ConfigError(f"{where}: required field {canonical!r} is not mapped and "
                              f"{missing}; map one with fields.{canonical}")


def _check_hf_split(folder: str, split: str | None, where: str) -> None:
    """A saved DatasetDict is read one split at a time: the split must be named and exist."""
    index = FileSystems.join(folder, "dataset_dict.json")
    if not FileSystems.exists(index):
        return
    try:
        with FileSystems.open(index) as stream:
            splits = json.load(stream).get("splits", [])
    except (OSError, ValueError, AttributeError) as error:
        raise ConfigError(f"{where}: cannot read {index}: {error}") from None
    if split not in splits:
        problem = "is not set" if split is None else f"{split!r} is not one of them"
        raise ConfigError(f"{where}: the saved DatasetDict has splits {splits}; hf_split {problem}")
