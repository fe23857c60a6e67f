"""Inputs an adversarial pass found getting through ingest (tests/data/bad_inputs/hardening)."""

import io
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import ConfigError, load_config
from pipelines.source_checks import check_sources
from transforms.dead_letters import Rejected
from transforms.ingest.readers import RawRow, read_csv, source_columns
from transforms.ingest.records import FieldMapping
from transforms.ingest.transform import DeduplicateDataset, IngestSource, SourceSpec

HARDENING = Path(__file__).resolve().parents[1] / "data" / "bad_inputs" / "hardening"
MAPPING = FieldMapping(kind="document", fields={"id": "sku", "label": "category"},
                       max_text_length=200, keep_unmapped_as_metadata=True)


def _run(fmt: str, names: list[str], records: list, dead: list,
         mapping: FieldMapping = MAPPING) -> None:
    spec = SourceSpec(name="src", format=fmt, files=tuple(str(HARDENING / n) for n in names),
                      mapping=mapping)
    with TestPipeline(runner="FnApiRunner") as pipeline:
        ingested = pipeline | IngestSource(spec)
        kept = (ingested["keyed"],) | DeduplicateDataset("docs", "document", ("train",))
        assert_that(kept["records.train"] | beam.Map(lambda r: (r["id"], r["label"])),
                    equal_to(records), label="records")
        assert_that(ingested["dead_letters"] | beam.Map(
                        lambda d: (Path(d["file"]).name, d["row"], d["reason"])),
                    equal_to(dead), label="dead letters")


def test_deeply_nested_json_rows_go_to_dead_letter_and_their_neighbours_stay():
    _run("jsonl", ["nested_too_deeply.jsonl"], [("good-21", "c"), ("good-22", "c")],
         [("nested_too_deeply.jsonl", 2, "unparseable"),
          ("nested_too_deeply.jsonl", 3, "unparseable")])
    assert source_columns(str(HARDENING / "nested_too_deeply.jsonl"), "jsonl") == {
        "sku", "text", "category"}


def test_gzip_sources_read_like_plain_ones():
    _run("jsonl", ["compressed.jsonl.gz"], [("good-23", "c"), ("good-24", "c")], [])
    _run("csv", ["compressed.csv.gz", "empty.csv"], [("good-25", "c"), ("good-26", "c")],
         [("empty.csv", None, "unreadable_file")])
    assert source_columns(str(HARDENING / "compressed.csv.gz"), "csv") == {
        "sku", "text", "category"}


def test_nan_in_a_parquet_label_column_is_a_missing_label():
    _run("parquet", ["nan_label.parquet"], [("good-28", "3"), ("good-29", None)], [])


def test_a_csv_header_naming_a_column_twice_is_unreadable_and_a_config_error(tmp_path):
    [rejected] = read_csv(io.BytesIO((HARDENING / "duplicate_column.csv").read_bytes()), "d.csv")
    assert isinstance(rejected, Rejected) and rejected.reason == "unreadable_file"
    assert "['text'] appear more than once" in rejected.detail
    config = tmp_path / "rebuild.yaml"
    config.write_text(f"output_root: out\nsources: [{{name: a, path: "
                      f"{HARDENING / 'duplicate_column.csv'}, format: csv}}]\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path: the header of .*"
                                          r"duplicate_column.csv names column\(s\) \['text'\]"):
        check_sources(load_config(config), config)


def test_an_empty_csv_is_an_unreadable_file():
    [rejected] = read_csv(io.BytesIO(b""), "empty.csv")
    assert (rejected.reason, rejected.row) == ("unreadable_file", None)


def test_csv_cells_may_be_as_long_as_max_text_length():
    text = "x" * 150_000
    data = f"text\n{text}\n".encode()
    [row] = read_csv(io.BytesIO(data), "long.csv", field_limit=200_000)
    assert isinstance(row, RawRow) and row.values["text"] == text


@pytest.mark.parametrize("name", ["x\n", "x\\n", "Bad"])
def test_names_must_match_entirely(tmp_path, name):
    config = tmp_path / "rebuild.yaml"
    config.write_text(f'output_root: out\nsources: [{{name: "{name}", path: x.csv, '
                      'format: csv}]\n')
    with pytest.raises(ConfigError, match=r"sources\[0\]\.name: .* must be lower_snake_case"):
        load_config(config)
