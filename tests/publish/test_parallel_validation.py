"""Validation in parts (row groups on any worker, uniqueness from keyed counts) reports what Great
Expectations reports on the whole dataset at once."""

import json
import time

import apache_beam as beam
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that

from schemas.datasets import contract_for
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec
from transforms.publish.validation import PartValidator, row_expectations
from transforms.publish.validation_parts import RowGroupTallies


def _rows() -> list[dict]:
    rows = [{"id": f"d{i}", "text": f"text {i}", "label": None, "domain": None, "metadata": None}
            for i in range(60)]
    for i in (3, 17, 42):
        rows[i]["text"] = ""  # too short
    rows[50]["id"] = rows[10]["id"]  # two pairs of repeated ids
    rows[51]["id"] = rows[11]["id"]
    return rows


def test_row_groups_of_several_files_add_up_to_the_whole(tmp_path):
    rows = _rows()
    contract = contract_for("document")
    paths = []
    for index, part in enumerate((rows[:25], rows[25:26], rows[26:])):
        paths.append(str(tmp_path / f"part-{index}.parquet"))
        pq.write_table(pa.Table.from_pylist(part, contract.schema), paths[-1], row_group_size=7)
    assert pq.ParquetFile(paths[0]).num_row_groups == 4
    expectations = row_expectations(contract)
    whole = PartValidator(expectations, "whole").tallies(pd.DataFrame(rows))
    assert [t.unexpected_count for t in whole] == [0, 0, 3]
    expected = [(t.element_count, t.unexpected_count, t.success, t.examples) for t in whole]

    def matches(found):
        assert [[(t.element_count, t.unexpected_count, t.success, t.examples) for t in tallies]
                for tallies in found] == [expected]

    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        assert_that(pipeline | beam.Create(paths) | RowGroupTallies(expectations, "docs"),
                    matches)


def test_parts_report_what_the_whole_frame_reports(tmp_path):
    rows = _rows()
    spec = PublishSpec(root=str(tmp_path), dataset="docs", version="v1", kind="document",
                       stage="test", splits=("train", "test"), run_id="r1",
                       started_at=time.time(), code_version="test", num_shards=3)
    pipeline = beam.Pipeline(runner="FnApiRunner")
    pipeline | Publish("test", [DatasetOutput(spec, {
        "train": pipeline | "train" >> beam.Create(rows[:40]),
        "test": pipeline | "test" >> beam.Create(rows[40:])})])
    with pytest.raises(Exception, match="publish failed: validation did not pass"):
        pipeline.run().wait_until_finish()
    report = json.loads((tmp_path / "docs" / ".staging" / "v1-r1" / "validation.json").read_text())
    contract = contract_for("document")
    whole = PartValidator(list(contract.expectations), "whole").tallies(pd.DataFrame(rows))
    assert [r["result"]["unexpected_count"] for r in report["results"]] == [
        t.unexpected_count for t in whole] == [0, 0, 4, 3]
    assert [r["success"] for r in report["results"]] == [t.success for t in whole]
    assert sorted(report["results"][2]["result"]["partial_unexpected_list"]) == [
        "d10", "d10", "d11", "d11"]
    assert report["statistics"]["unsuccessful_expectations"] == 2
    assert all(r["result"]["element_count"] == 60 for r in report["results"])


def test_a_valid_dataset_of_several_files_passes(tmp_path):
    rows = [dict(r, id=f"u{i}", text=f"t{i}") for i, r in enumerate(_rows())]
    spec = PublishSpec(root=str(tmp_path), dataset="docs", version="v1", kind="document",
                       stage="test", splits=("train",), run_id="r1", started_at=time.time(),
                       code_version="test", num_shards=2)
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        pipeline | Publish("test", [DatasetOutput(spec, {"train": pipeline | beam.Create(rows)})])
    manifest = json.loads((tmp_path / "docs" / "v1" / "manifest.json").read_text())
    assert manifest["validation"] == {"success": True, "evaluated": 4, "failed": []}

