"""Dataset cards: `datasets.load_dataset` on a dataset folder (LATEST or a version by id) and on a
version folder, ClassLabel features, the card's metadata, and what it warns about."""

import json
import time
from pathlib import Path

import apache_beam as beam
import datasets
import pytest
from huggingface_hub import DatasetCard

from schemas.records import DEAD_LETTER_REASONS
from transforms.publish import card, content, store
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec


def _rows(labels: list[str | None], first_id: int = 0) -> list[dict]:
    return [{"id": str(i), "text": f"text {i}", "label": label, "domain": None, "metadata": None}
            for i, label in enumerate(labels, start=first_id)]


def _publish(root: Path, dataset: str, version: str, splits: dict[str, list[dict]],
             kind: str = "document", **spec) -> None:
    spec = PublishSpec(root=str(root), dataset=dataset, version=version, kind=kind, stage="test",
                       splits=tuple(splits), run_id=f"run-{version}", started_at=time.time(),
                       code_version="test", **spec)
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        output = DatasetOutput(spec, {split: pipeline | f"rows {split}" >> beam.Create(rows)
                                      for split, rows in splits.items()})
        pipeline | Publish("test", [output])


def _load(*args: str) -> datasets.DatasetDict:
    return datasets.load_dataset(*args, cache_dir=None)


def test_dataset_folder_loads_latest_or_any_version_with_class_labels(tmp_path):
    _publish(tmp_path, "docs", "v1", {"train": _rows(["b", "a", None]), "test": []},
             card={"license": "cc-by-4.0", "description": "Our catalogue."})
    _publish(tmp_path, "docs", "v2", {"train": _rows(["c", "a"]), "test": _rows(["a"], first_id=10)})

    latest = _load(str(tmp_path / "docs"))
    assert {split: ds.num_rows for split, ds in latest.items()} == {"train": 2, "test": 1}
    assert latest["train"].features["label"].names == ["a", "c"]
    assert latest["train"].features["label"].int2str(latest["train"]["label"]) == ["c", "a"]

    v1 = _load(str(tmp_path / "docs"), "v1")
    assert list(v1) == ["train"], "an empty split is left out; validation.json is no split"
    assert v1["train"].features["label"].names == ["a", "b"]
    assert v1["train"]["label"] == [1, 0, None]
    assert _load(str(tmp_path / "docs" / "v1"))["train"].num_rows == 3

    index = DatasetCard.load(tmp_path / "docs" / "README.md").data.to_dict()
    assert [c["config_name"] for c in index["configs"]] == ["v1", "v2"]
    assert [c.get("default") for c in index["configs"]] == [None, True]
    version = DatasetCard.load(tmp_path / "docs" / "v1" / "README.md")
    assert version.data.license == "cc-by-4.0"
    assert version.data.task_categories == ["text-classification"]
    assert version.data.dataset_info[0]["splits"][0]["num_examples"] == 3
    assert "Our catalogue." in version.text
    assert "| b | 1 | 50.0% |" in version.text, "class counts (nulls not counted)"

    card.point_latest(str(tmp_path), "docs", "v1", "rollback-test")
    assert _load(str(tmp_path / "docs"))["train"].num_rows == 3, "the index follows LATEST"


def test_a_dataset_without_rows_says_so_instead_of_guessing_splits(tmp_path):
    _publish(tmp_path, "dead", "v1", {"train": []}, kind="dead_letter")
    with pytest.raises(ValueError, match="corresponds to no data"):
        _load(str(tmp_path / "dead"))
    features = DatasetCard.load(tmp_path / "dead" / "README.md").data.dataset_info[0]["features"]
    reason = next(f for f in features if f["name"] == "reason")
    names = reason["dtype"]["class_label"]["names"]
    assert [names[str(i)] for i in range(len(names))] == list(DEAD_LETTER_REASONS), (
        "known class names keep their ids across versions")


def test_card_shows_relative_inputs_and_hides_absolute_local_paths(tmp_path):
    inputs = ({"source": "a", "path": "data/a.jsonl", "sha256": "0" * 64, "bytes": 1},
              {"source": "b", "path": "/home/someone/secret/b.jsonl", "sha256": "1" * 64,
               "bytes": 1})
    _publish(tmp_path, "docs", "v1", {"train": _rows(["a"])}, inputs=inputs)
    text = (tmp_path / "docs" / "v1" / "README.md").read_text()
    assert "`data/a.jsonl`" in text and "`b.jsonl` (full path in manifest.json)" in text
    assert "/home/someone" not in text
    manifest = json.loads((tmp_path / "docs" / "v1" / "manifest.json").read_text())
    assert manifest["inputs"][1]["path"] == "/home/someone/secret/b.jsonl"


def test_a_column_with_too_many_classes_stays_a_string(tmp_path, monkeypatch):
    monkeypatch.setattr(content, "MAX_CARD_CLASSES", 3)
    _publish(tmp_path, "docs", "v1", {"train": _rows(["a", "b", "c", "d"])})
    manifest = store.read_manifest(str(tmp_path), "docs", "v1")
    assert manifest["splits"]["train"]["classes"] == {"label": None}
    train = _load(str(tmp_path / "docs"))["train"]
    assert train.features["label"] == datasets.Value("string")
    assert train["label"] == ["a", "b", "c", "d"]


def test_stage_warnings_lead_the_card(tmp_path):
    spec = PublishSpec(root=str(tmp_path), dataset="docs", version="v1", kind="document",
                       stage="test", splits=("train",), run_id="r1", started_at=time.time(),
                       code_version="test")
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        pipeline | Publish("test", [DatasetOutput(
            spec, {"train": pipeline | beam.Create(_rows(["a"]))},
            warnings=pipeline | "warn" >> beam.Create(["the model did not learn"]))])
    assert "> **Warning:** the model did not learn" in (tmp_path / "docs" / "v1" / "README.md"
                                                        ).read_text()
    assert store.read_manifest(str(tmp_path), "docs", "v1")["warnings"] == [
        "the model did not learn"]


def test_a_stale_index_is_put_right_and_a_current_one_left_alone(tmp_path):
    _publish(tmp_path, "docs", "v1", {"train": _rows(["a"])})
    _publish(tmp_path, "docs", "v2", {"train": _rows(["a", "b"])})
    index = tmp_path / "docs" / "README.md"
    (tmp_path / "docs" / "LATEST").write_text("v1\n")  # moved by hand: the index still says v2
    card.refresh_index(str(tmp_path), "docs", "r3")
    assert _load(str(tmp_path / "docs"))["train"].num_rows == 1
    before = index.stat().st_mtime_ns
    card.refresh_index(str(tmp_path), "docs", "r4")
    assert index.stat().st_mtime_ns == before
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["LATEST", "README.md", "v1",
                                                                      "v2"]
