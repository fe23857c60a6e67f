"""The publish path: staging, validation, atomic promote, LATEST, and crash recovery."""

import json
import time
from pathlib import Path

import apache_beam as beam
import pytest

from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec

GOOD = [{"id": str(i), "text": f"text {i}", "label": "a", "domain": None, "metadata": None}
        for i in range(20)]
DUPLICATE_IDS = GOOD + [dict(GOOD[0], text="same id, other text")]


def _spec(root: Path, dataset: str, version: str, run_id: str, **kwargs) -> PublishSpec:
    return PublishSpec(root=str(root), dataset=dataset, version=version, kind="document",
                       stage="test", splits=("train",), run_id=run_id, started_at=time.time(),
                       code_version="test", **kwargs)


def _publish(specs_and_rows: list[tuple[PublishSpec, list[dict]]]) -> None:
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        outputs = [DatasetOutput(spec, {"train": pipeline | f"rows {spec.dataset}" >> beam.Create(rows)})
                   for spec, rows in specs_and_rows]
        pipeline | Publish("test", outputs)


def test_published_version_has_layout_manifest_card_and_latest(tmp_path):
    _publish([(_spec(tmp_path, "docs", "v1", "r1", num_shards=2), GOOD)])
    final = tmp_path / "docs" / "v1"
    assert sorted(p.name for p in (final / "data").iterdir()) == [
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    manifest = json.loads((final / "manifest.json").read_text())
    assert manifest["splits"]["train"]["rows"] == 20
    assert manifest["validation"]["success"] is True
    assert store.latest_version(str(tmp_path), "docs") == "v1"
    assert "split: train" in (final / "README.md").read_text()
    assert not (tmp_path / "docs" / ".staging").exists(), "an empty staging folder is removed"


def test_content_hash_does_not_depend_on_sharding_or_order(tmp_path):
    _publish([(_spec(tmp_path, "one", "v1", "r1", num_shards=1), GOOD),
              (_spec(tmp_path, "three", "v1", "r1", num_shards=3), list(reversed(GOOD)))])
    one = store.read_manifest(str(tmp_path), "one", "v1")
    three = store.read_manifest(str(tmp_path), "three", "v1")
    assert one["content_hash"] == three["content_hash"]
    _publish([(_spec(tmp_path, "other", "v1", "r1"), GOOD[:-1])])
    assert store.read_manifest(str(tmp_path), "other", "v1")["content_hash"] != one["content_hash"]


def test_failed_validation_promotes_nothing_and_keeps_the_report(tmp_path):
    _publish([(_spec(tmp_path, "docs", "v1", "r1"), GOOD)])
    with pytest.raises(Exception, match="publish failed: validation did not pass"):
        _publish([(_spec(tmp_path, "docs", "v2", "r2"), DUPLICATE_IDS),
                  (_spec(tmp_path, "fine", "v2", "r2"), GOOD)])
    assert store.latest_version(str(tmp_path), "docs") == "v1"
    assert not store.is_published(str(tmp_path), "docs", "v2")
    assert not store.is_published(str(tmp_path), "fine", "v2"), "a valid sibling is held back too"
    report = json.loads((tmp_path / "docs" / ".staging" / "v2-r2" / "validation.json").read_text())
    assert report["success"] is False


def test_staged_files_that_lost_rows_promote_nothing(tmp_path, monkeypatch):
    from transforms.publish import transform

    monkeypatch.setattr(transform, "_file_rows", lambda path: 9)  # as if a writer lost rows
    with pytest.raises(Exception, match=r"docs@v1: the staged files hold 9 rows but the stage "
                                        r"produced 20 .*nothing was promoted"):
        _publish([(_spec(tmp_path, "docs", "v1", "r1"), GOOD)])
    assert store.latest_version(str(tmp_path), "docs") is None


def test_crash_between_write_and_promote_leaves_no_visible_version(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("injected crash before promote")

    monkeypatch.setattr(store, "promote", crash)
    with pytest.raises(Exception, match="injected crash"):
        _publish([(_spec(tmp_path, "docs", "v1", "r1"), GOOD)])
    assert store.latest_version(str(tmp_path), "docs") is None
    assert store.list_versions(str(tmp_path), "docs") == []
    assert not (tmp_path / "docs" / "v1").exists()
    monkeypatch.undo()
    _publish([(_spec(tmp_path, "docs", "v1", "r2"), GOOD)])
    assert store.latest_version(str(tmp_path), "docs") == "v1"
    assert store.read_manifest(str(tmp_path), "docs", "v1")["rows"] == 20


def test_crash_during_promote_before_manifest_is_invisible_and_recovered(tmp_path, monkeypatch):
    write_json = store.write_json

    def crash_on_manifest(path, value):
        if path.endswith(store.MANIFEST):
            raise RuntimeError("injected crash before manifest")
        write_json(path, value)

    monkeypatch.setattr(store, "write_json", crash_on_manifest)
    with pytest.raises(Exception, match="injected crash"):
        _publish([(_spec(tmp_path, "docs", "v1", "r1"), GOOD)])
    assert (tmp_path / "docs" / ".staging" / "v1-r1" / store.ASSEMBLED / "data").exists(), \
        "files were moved, manifest was not"
    assert not (tmp_path / "docs" / "v1").exists()
    assert store.list_versions(str(tmp_path), "docs") == []
    assert store.latest_version(str(tmp_path), "docs") is None
    monkeypatch.undo()
    _publish([(_spec(tmp_path, "docs", "v1", "r2"), GOOD)])
    assert store.list_versions(str(tmp_path), "docs") == ["v1"]


def test_crash_while_moving_files_shows_no_version_and_manifest_comes_last(tmp_path, monkeypatch):
    rename = store.FileSystems.rename
    written = []

    def move_first_then_crash(sources, destinations):
        rename(sources[:1], destinations[:1])
        raise RuntimeError("injected crash while moving files")

    monkeypatch.setattr(store.FileSystems, "rename", move_first_then_crash)
    monkeypatch.setattr(store, "write_json", lambda path, value: written.append(path))
    with pytest.raises(Exception, match="injected crash"):
        _publish([(_spec(tmp_path, "docs", "v1", "r1", num_shards=2), GOOD)])
    assert not any(path.endswith(store.MANIFEST) for path in written)
    assert store.list_versions(str(tmp_path), "docs") == []
    assert store.latest_version(str(tmp_path), "docs") is None
    monkeypatch.undo()
    _publish([(_spec(tmp_path, "docs", "v1", "r2", num_shards=2), GOOD)])
    assert store.read_manifest(str(tmp_path), "docs", "v1")["rows"] == 20


def test_version_folder_left_without_manifest_is_replaced(tmp_path):
    leftover = tmp_path / "docs" / "v1" / "data"
    leftover.mkdir(parents=True)
    (leftover / "train-00000-of-00003.parquet").write_bytes(b"stale shard of a crashed run")
    _publish([(_spec(tmp_path, "docs", "v1", "r1"), GOOD)])
    assert sorted(p.name for p in leftover.iterdir()) == ["train-00000-of-00001.parquet"]
    assert store.read_manifest(str(tmp_path), "docs", "v1")["rows"] == 20
    assert not (tmp_path / "docs" / ".staging").exists(), "the leftover went with the staging"


def test_concurrent_run_that_published_first_is_left_intact(tmp_path, monkeypatch):
    _publish([(_spec(tmp_path, "docs", "v1", "winner", num_shards=2), GOOD)])
    published = sorted(p.name for p in (tmp_path / "docs" / "v1" / "data").iterdir())
    exists = store.FileSystems.exists
    manifest = str(tmp_path / "docs" / "v1" / store.MANIFEST)
    checks = []

    def manifest_not_yet_written_at_first_check(path):
        if path == manifest and not checks:
            checks.append(path)
            return False
        return exists(path)

    monkeypatch.setattr(store.FileSystems, "exists", manifest_not_yet_written_at_first_check)
    _publish([(_spec(tmp_path, "docs", "v1", "loser", num_shards=1), GOOD)])
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "docs" / "v1" / "data").iterdir()) == published
    assert store.read_manifest(str(tmp_path), "docs", "v1")["run_id"] == "winner"
    assert not (tmp_path / "docs" / ".staging" / "v1-loser").exists()


def test_version_counts_each_input_with_its_source_and_path():
    train = {"source": "train", "path": "a.csv", "sha256": "1"}
    test = {"source": "test", "path": "b.csv", "sha256": "2"}
    swapped = [dict(train, sha256="2"), dict(test, sha256="1")]
    assert (versioning.version_id("d", "ingest", {}, [train, test], {}, "c")
            != versioning.version_id("d", "ingest", {}, swapped, {}, "c"))
    assert (versioning.version_id("d", "ingest", {}, [train, test], {}, "c")
            == versioning.version_id("d", "ingest", {}, [dict(train), dict(test)], {}, "c"))


def test_code_version_covers_the_modules_a_stage_borrows():
    files = {f.relative_to(versioning.PROJECT_ROOT).as_posix()
             for f in versioning.code_files("pipelines.stages.qgen")}
    assert {"pipelines/stages/qgen.py", "transforms/qgen/training.py", "transforms/batching.py",
            "transforms/dead_letters.py", "transforms/publish/store.py"} <= files
    assert not {"pipelines/cli.py", "pipelines/config.py", "pipelines/stages/planning.py",
                "transforms/distill/krr_st.py", "transforms/ingest/readers.py",
                "transforms/progress.py"} & files
