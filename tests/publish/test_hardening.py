"""Catalog and store paths a planted or damaged file used to get through."""

import json

import pytest

from pipelines.cli import main
from transforms.publish import catalog, store


def _publish(root, dataset: str, version: str, rows: int = 1) -> None:
    folder = root / dataset / version
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(
        {"dataset": dataset, "version": version, "rows": rows, "stage": "ingest",
         "created_at": "2026-01-01T00:00:00+00:00", "published_at": 1.0, "splits": {}}))
    (root / dataset / "LATEST").write_text(version + "\n")


@pytest.mark.parametrize("ref", ["ROOT/docs@../../../../etc", "ROOT/docs@aaaaaaaaaaaa/../x",
                                 "ROOT/..@aaaaaaaaaaaa"])
def test_a_version_or_dataset_that_is_a_path_is_refused(tmp_path, ref, capsys):
    _publish(tmp_path, "docs", "aaaaaaaaaaaa")
    with pytest.raises(ValueError, match="is not a (version id|dataset name)"):
        catalog.parse_ref(ref.replace("ROOT", str(tmp_path)))
    assert main(["datasets", "show", ref.replace("ROOT", str(tmp_path))]) == 2
    assert "is not a" in capsys.readouterr().err


def test_one_corrupt_manifest_is_flagged_and_the_rest_still_list(tmp_path, capsys):
    _publish(tmp_path, "docs", "aaaaaaaaaaaa")
    _publish(tmp_path, "queries", "bbbbbbbbbbbb")
    broken = tmp_path / "docs" / "aaaaaaaaaaaa" / "manifest.json"
    broken.write_text("{not json")
    rows = {row["dataset"]: row for row in catalog.list_datasets(str(tmp_path))}
    assert rows["queries"]["latest"] == "bbbbbbbbbbbb"
    assert str(broken) in rows["docs"]["problem"]
    assert main(["datasets", "list", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "queries" in out and f"warning: docs: {broken}: not a readable manifest" in err


def test_a_latest_that_is_a_folder_is_a_clear_error_and_leaves_no_temporary_file(tmp_path):
    _publish(tmp_path, "docs", "aaaaaaaaaaaa")
    (tmp_path / "docs" / "LATEST").unlink()
    (tmp_path / "docs" / "LATEST").mkdir()
    with pytest.raises(IsADirectoryError, match="LATEST is a folder, not a LATEST file"):
        store.set_latest(str(tmp_path), "docs", "aaaaaaaaaaaa", "run1")
    assert not list((tmp_path / "docs").glob(".LATEST*"))


def test_a_latest_folder_or_a_latest_naming_a_path_is_flagged_in_the_listing(tmp_path, capsys):
    _publish(tmp_path, "docs", "aaaaaaaaaaaa")
    _publish(tmp_path, "queries", "bbbbbbbbbbbb")
    (tmp_path / "docs" / "LATEST").unlink()
    (tmp_path / "docs" / "LATEST").mkdir()
    (tmp_path / "queries" / "LATEST").write_text("../../../../etc\n")
    rows = {row["dataset"]: row for row in catalog.list_datasets(str(tmp_path))}
    assert "LATEST is a folder" in rows["docs"]["problem"]
    assert "is not a version id" in rows["queries"]["problem"]
    with pytest.raises(store.LatestError, match="is not a version id"):
        catalog.parse_ref(f"{tmp_path}/queries")
    assert main(["datasets", "list", str(tmp_path)]) == 0
    assert "warning: queries:" in capsys.readouterr().err
