"""The prune stage through the CLI with the bundled encoder (real weights, small inputs)."""

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from transforms.prune import transform as prune_transform
from transforms.publish import store

KITCHEN = {"cookware", "small_appliances", "cutlery", "tableware", "storage"}


def _latest(root: Path, dataset: str) -> Path:
    return root / dataset / store.latest_version(str(root), dataset)


def test_example_prunes_to_the_kitchen_categories_and_reuses_embeddings(prune_example_config,
                                                                         capsys):
    root = prune_example_config.parent / "out"
    assert main(["rebuild", str(prune_example_config)]) == 0
    assert capsys.readouterr().out.count("published") == 8
    pruned = pl.read_parquet(_latest(root, "pruned_source") / "data" / "*.parquet")
    assert pruned.height == 100 and set(pruned["label"]) == KITCHEN
    ranking_dir = _latest(root, "class_ranking")
    ranking = pl.read_parquet(ranking_dir / "data" / "*.parquet").sort("rank")
    assert set(ranking.filter(pl.col("kept"))["source_class"]) == KITCHEN
    assert ranking["rank"].to_list() == list(range(1, 16))
    # each class carries its records' department; the kitchen classes are (nearly) all kitchen
    domains = dict(zip(ranking["source_class"], ranking["domain"], strict=True))
    assert domains["cutlery"] == "kitchen" and domains["garden_tools"] == "outdoor"
    assert (ranking_dir / "votes_per_class.png").read_bytes()[:4] == b"\x89PNG"
    assert "![votes_per_class.png](votes_per_class.png)" in (ranking_dir / "README.md").read_text()
    manifest = json.loads((_latest(root, "pruned_source") / "manifest.json").read_text())
    assert set(manifest["parents"]) == {"catalogue", "target", "embeddings"}
    assert manifest["models"]["encoder"].startswith("all-MiniLM-L6-v2@")
    assert manifest["drop_counts"] == {"pruned_class": 200}
    embeddings = json.loads((_latest(root, "embeddings") / "manifest.json").read_text())
    assert embeddings["rows"] == 380  # 300 catalogue + 80 target train texts: the splits read

    # Another prune size re-ranks the same inputs: nothing is ingested or encoded again.
    config = prune_example_config.read_text().replace("retain_classes: 5", "retain_classes: 3")
    prune_example_config.write_text(config)
    assert main(["rebuild", str(prune_example_config)]) == 0
    captured = capsys.readouterr()
    assert "embed: inputs, config and code unchanged" in captured.err
    assert "ingest: inputs, config and code unchanged" in captured.err
    assert pl.read_parquet(_latest(root, "pruned_source") / "data" / "*.parquet").height == 60

    prune_example_config.write_text(config.replace("retain_classes: 3", "retain_classes: 16"))
    assert main(["rebuild", str(prune_example_config)]) == 2
    assert "retain_classes=16 but the source has 15 classes" in capsys.readouterr().err

    # Vectors made from other tokens are not reused: a new max_length encodes every text again.
    prune_example_config.write_text(config.replace("batch_size: 64", "batch_size: 64\n"
                                                  "    max_length: 64"))
    assert main(["rebuild", str(prune_example_config), "--stage", "embed"]) == 0
    assert "texts_encoded=380" in capsys.readouterr().err

    # Prune refuses embeddings that were not built from the datasets it reads.
    prune_example_config.write_text(prune_example_config.read_text().replace(
        "max_text_length: 2000", "max_text_length: 1999"))
    assert main(["rebuild", str(prune_example_config), "--stage", "ingest"]) == 0
    assert main(["rebuild", str(prune_example_config), "--stage", "prune"]) == 2
    assert "run the embed stage first" in capsys.readouterr().err


def test_an_encoder_that_is_not_available_offline_is_a_clear_error(prune_example_config, capsys):
    prune_example_config.write_text(prune_example_config.read_text().replace(
        "model: all-MiniLM-L6-v2", "model: nobody/no-such-model"))
    assert main(["rebuild", str(prune_example_config)]) == 3  # after ingest published
    err = capsys.readouterr().err
    assert "embed: encoder 'nobody/no-such-model' is neither a folder nor in the local" in err


def _write_config(tmp_path: Path, source_rows: str, target_rows: str, prune: str) -> Path:
    (tmp_path / "source.csv").write_text("text,label\n" + source_rows)
    (tmp_path / "target.csv").write_text("text,label\n" + target_rows)
    config = tmp_path / "rebuild.yaml"
    config.write_text(f"""
output_root: {tmp_path / 'out'}
sources:
  - {{name: source, path: {tmp_path / 'source.csv'}, format: csv}}
  - {{name: target, path: {tmp_path / 'target.csv'}, format: csv}}
stages:
  prune: {{source: source, target: target, {prune}}}
""")
    return config


def test_bad_target_rows_go_to_dead_letter(tmp_path, capsys):
    config = _write_config(
        tmp_path, ("non-stick frying pan,pans\nstainless steel saucepan,pans\n"
                   "garden hose reel,garden\nleaf rake for the lawn,garden\n"),
        "a frying pan to fry eggs in,cook\n\u200b\u200b,cook\nsomething odd,weird\n",
        "retain_classes: 1, target_labels: [cook]")
    assert main(["rebuild", str(config)]) == 0
    root = tmp_path / "out"
    dead = pl.read_parquet(_latest(root, "dead_letter_prune") / "data" / "*.parquet")
    assert sorted(zip(dead["reason"], dead["raw"])) == [
        ("missing_embedding", "\u200b\u200b"), ("unknown_target_label", "something odd")]
    pruned = pl.read_parquet(_latest(root, "pruned_source") / "data" / "*.parquet")
    assert set(pruned["label"]) == {"pans"}
    capsys.readouterr()


@pytest.mark.parametrize("scale", ["", "scale: {broadcast_join_max_rows: 0}"],
                         ids=["broadcast", "shuffle"])
def test_a_step_that_loses_rows_fails_the_publish(tmp_path, capsys, monkeypatch, scale):
    """Rows lost inside the run (a bug) fail the row accounting: nothing is promoted."""
    config = _write_config(tmp_path, ("non-stick frying pan,pans\nstainless steel saucepan,pans\n"
                                      "garden hose reel,garden\nleaf rake for the lawn,garden\n"),
                           "a frying pan to fry eggs in,cook\n", "retain_classes: 1")
    config.write_text(config.read_text() + scale + "\n")
    for fn in (prune_transform._KeepRowFn, prune_transform._KeepJoinedRowsFn):
        def lossy(self, *args, _process=fn.process, **kwargs):
            for item in _process(self, *args, **kwargs):
                if not (isinstance(item, dict) and item["text"] == "non-stick frying pan"):
                    yield item
        monkeypatch.setattr(fn, "process", lossy)
    assert main(["rebuild", str(config)]) == 3
    err = capsys.readouterr().err
    assert "prune: rows do not add up (a bug, not bad input" in err, err
    assert ("source rows read again to publish: 4, but kept 1 + pruned_class 2 + "
            "source_dead_letters 0 = 3 (+1 unaccounted for)") in err, err
    assert "Traceback" not in err
    assert store.latest_version(str(tmp_path / "out"), "pruned_source") is None
    monkeypatch.undo()
    assert main(["rebuild", str(config)]) == 0
    pruned = pl.read_parquet(_latest(tmp_path / "out", "pruned_source") / "data" / "*.parquet")
    assert sorted(pruned["text"]) == ["non-stick frying pan", "stainless steel saucepan"]


# A config error is exit 2 before any work; a prune plan error comes after ingest and embed
# published, exit 3.
@pytest.mark.parametrize(("source_rows", "target_rows", "prune", "code", "message"), [
    ("pan,pans\npot,pans\n", "wok,cook\n", "retain_classes: 1", 3,
     "the source has 1 class(es); pruning needs at least 2"),
    ("pan,pans\nrake,garden\n", "", "retain_classes: 1", 3, "target target/train is empty"),
    ("pan,pans\nrake,garden\n", "wok,cook\n", "prune_ratio: 1.5", 2, "prune_ratio"),
])
def test_prune_errors_are_clear(tmp_path, capsys, source_rows, target_rows, prune, code,
                                message):
    config = _write_config(tmp_path, source_rows, target_rows, prune)
    assert main(["rebuild", str(config)]) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_a_misspelt_dataset_name_fails_before_ingest_publishes(tmp_path, capsys):
    config = _write_config(tmp_path, "pan,pans\nrake,garden\n", "wok,cook\n", "retain_classes: 1")
    config.write_text(config.read_text().replace("source: source,", "source: sorce,"))
    assert main(["rebuild", str(config)]) == 2
    err = capsys.readouterr().err
    assert "stages.prune.source: dataset 'sorce' is not published under" in err, err
    assert not (tmp_path / "out").exists()
    config.write_text(config.read_text().replace("source: sorce,", "source: pruned_source,"))
    assert main(["rebuild", str(config)]) == 2
    assert "dataset 'pruned_source' (made by a later stage)" in capsys.readouterr().err
