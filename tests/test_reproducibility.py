"""The same version id means the same rows: the whole example rebuild, twice from scratch, in two
checkout folders, once on one process and once on two worker processes."""

import shutil
from pathlib import Path

from pipelines.cli import main
from tests.conftest import EXAMPLES
from transforms.publish import store

# Shorter than the example's training, so the test stays quick; still every stage, qgen included.
SHORTER = {"steps: 150": "steps: 20", "train_steps: 60": "train_steps: 6",
           "classifier_steps: 40": "classifier_steps: 4"}


def _checkout(folder: Path) -> Path:
    """The example config and data as a checkout at `folder` would have them."""
    shutil.copytree(EXAMPLES / "data", folder / "examples" / "data")
    text = (EXAMPLES / "rebuild.yaml").read_text()
    for old, new in SHORTER.items():
        assert old in text
        text = text.replace(old, new)
    config = folder / "examples" / "rebuild.yaml"
    config.write_text(text)
    return config


def _published(root: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """dataset -> (LATEST version, content hash per split)."""
    found = {}
    for dataset in store.list_datasets(str(root)):
        version = store.latest_version(str(root), dataset)
        manifest = store.read_manifest(str(root), dataset, version)
        found[dataset] = (version, {split: info["content_hash"]
                                    for split, info in manifest["splits"].items()})
    return found


def test_two_rebuilds_in_two_folders_on_one_and_two_workers_publish_the_same(tmp_path, capsys):
    first, second = _checkout(tmp_path / "a"), _checkout(tmp_path / "elsewhere" / "b")
    assert main(["rebuild", str(first)]) == 0
    assert main(["rebuild", str(second), "--direct_num_workers", "2"]) == 0
    capsys.readouterr()
    one, two = _published(tmp_path / "a" / "out" / "example"), _published(
        tmp_path / "elsewhere" / "b" / "out" / "example")
    assert len(one) == 13 and one == two
