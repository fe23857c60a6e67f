"""IngestSource on the bad-input corpus, with Beam's TestPipeline and assert_that."""

from pathlib import Path

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.ingest.records import FieldMapping
from transforms.ingest.transform import DeduplicateDataset, IngestSource, SourceSpec

BAD_INPUTS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
MAPPING = FieldMapping(kind="document", fields={"id": "sku", "label": "category"},
                       max_text_length=200, keep_unmapped_as_metadata=True)


def _spec(name: str, fmt: str, pattern: str) -> SourceSpec:
    return SourceSpec(name=name, format=fmt, files=tuple(str(p) for p in
                                                         sorted(BAD_INPUTS.glob(pattern))),
                      mapping=MAPPING)


def _ingest(pipeline, spec: SourceSpec) -> dict:
    """One source into one dataset: records, all dead letters, drops."""
    ingested = pipeline | IngestSource(spec)
    deduplicated = (ingested["keyed"],) | DeduplicateDataset(spec.name, "document", ("train",))
    dead = ((ingested["dead_letters"], deduplicated["dead_letters"])
            | f"{spec.name} dead letters" >> beam.Flatten())
    return {"records": deduplicated["records.train"], "dead_letters": dead,
            "drops": deduplicated["drops"]}


def test_good_rows_survive_and_bad_rows_are_dead_lettered_with_their_reason():
    expected_good = [f"good-{i}" for i in range(1, 15)]
    expected_dead = {
        ("unparseable.jsonl", 2), ("unparseable.jsonl", 4), ("undecodable_bytes.jsonl", 2),
        ("wrong_type.jsonl", 2), ("missing_field.jsonl", 2), ("empty_field.jsonl", 2),
        ("text_too_long.jsonl", 2), ("duplicate_id_conflict.jsonl", 2),
    }
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = _ingest(pipeline, _spec("bad", "jsonl", "*.jsonl"))
        assert_that(result["records"] | beam.Map(lambda r: r["id"]), equal_to(expected_good),
                    label="good rows")
        dead = result["dead_letters"]
        assert_that(dead | beam.Map(lambda d: (Path(d["file"]).name, d["row"])),
                    equal_to(sorted(expected_dead)), label="dead letter locations")
        assert_that(dead | beam.Map(lambda d: d["reason"] == Path(d["file"]).stem),
                    equal_to([True] * len(expected_dead)), label="dead letter reasons")
        assert_that(dead | beam.Map(lambda d: (d["reason"], d["field"])), equal_to([
            ("unparseable", None), ("unparseable", None), ("undecodable_bytes", "text"),
            ("wrong_type", "text"), ("missing_field", "text"), ("empty_field", "text"),
            ("text_too_long", "text"), ("duplicate_id_conflict", "id")]),
                    label="dead letter fields")
        assert_that(result["drops"], equal_to([("duplicate_exact", 1)]), label="exact repeats")


def test_csv_source_sends_bad_rows_to_dead_letter():
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = _ingest(pipeline, _spec("bad_csv", "csv", "*.csv"))
        assert_that(result["records"] | beam.Map(lambda r: r["id"]),
                    equal_to(["good-15", "good-16", "good-17", "good-18"]), label="good rows")
        assert_that(result["dead_letters"] | beam.Map(
                        lambda d: (Path(d["file"]).name, d["row"], d["reason"], d["source"])),
                    equal_to([("unparseable.csv", 3, "unparseable", "bad_csv"),
                              ("undecodable_bytes.csv", 3, "undecodable_bytes", "bad_csv")]),
                    label="dead letters")


def test_duplicates_resolve_across_the_sources_of_a_dataset():
    train = SourceSpec(name="train_src", format="csv", files=(str(BAD_INPUTS / "unparseable.csv"),),
                       mapping=MAPPING, split="train", order=0)
    test = SourceSpec(name="test_src", format="csv", files=(str(BAD_INPUTS / "unparseable.csv"),),
                      mapping=MAPPING, split="test", order=1)
    with TestPipeline(runner="FnApiRunner") as pipeline:
        keyed = [pipeline | IngestSource(train), pipeline | IngestSource(test)]
        result = tuple(k["keyed"] for k in keyed) | DeduplicateDataset("docs", "document",
                                                                  ("train", "test"))
        assert_that(result["records.train"] | beam.Map(lambda r: r["id"]),
                    equal_to(["good-15", "good-16"]), label="train keeps them")
        assert_that(result["records.test"], equal_to([]), label="test repeats are dropped")
        assert_that(result["drops"], equal_to([("duplicate_exact", 1)] * 2), label="counted")


def test_parquet_cell_that_is_not_utf8_rejects_only_its_row():
    with TestPipeline(runner="FnApiRunner") as pipeline:
        result = _ingest(pipeline, _spec("bad_parquet", "parquet", "*.parquet"))
        assert_that(result["records"] | beam.Map(lambda r: r["id"]),
                    equal_to(["good-19", "good-20"]), label="good rows")
        assert_that(result["dead_letters"] | beam.Map(
                        lambda d: (Path(d["file"]).name, d["row"], d["reason"], d["field"])),
                    equal_to([("undecodable_bytes.parquet", 2, "undecodable_bytes", "text")]),
                    label="dead letters")
