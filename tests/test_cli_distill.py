"""The distill stage through the CLI: the example chain ingest -> embed -> prune -> distill."""

import json
import shutil
from pathlib import Path

import datasets
import polars as pl
import pytest
import torch

from pipelines.cli import main
from transforms.distill.targets import TargetNormaliser
from transforms.publish import store
from transforms.seeded_sample import sample_priority
from transforms.student.distilled import NotDistilled, pretrain_on_distilled, read_distilled
from transforms.student.model import TextStudent


def _latest(root: Path, dataset: str) -> Path:
    return root / dataset / store.latest_version(str(root), dataset)


def _shorten(config: Path, **replacements: str) -> None:
    """Fewer outer steps than the example, so the suite stays fast."""
    text = config.read_text().replace("steps: 150", "steps: 40")
    for old, new in replacements.items():
        text = text.replace(old, new)
    config.write_text(text)


def test_example_distils_the_pruned_catalogue(full_example_config, capsys):
    _shorten(full_example_config)
    root = full_example_config.parent / "out"
    assert main(["rebuild", str(full_example_config)]) == 0
    captured = capsys.readouterr()
    assert "distill: step 40/40 loss" in captured.err
    folder = _latest(root, "distilled")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["rows"] == 24
    assert manifest["parents"] == {
        "pruned_source": store.latest_version(str(root), "pruned_source"),
        "embeddings": store.latest_version(str(root), "embeddings")}
    assert manifest["models"]["teacher"].startswith("all-MiniLM-L6-v2@")
    assert manifest["models"]["table"].startswith("all-MiniLM-L6-v2@")
    assert manifest["config"]["input_dim"] == 384
    settings = manifest["config"]["distill"]
    assert (settings["m"], settings["sequence_length"], settings["pool_size"],
            settings["pool_steps"], settings["steps"]) == (24, 32, 5, 30, 40)
    assert manifest["attachments"] == ["loss_curve.json", "loss_curve.png",
                                       "target_normalisation.json"]
    normalisation = manifest["reports"]["target_normalisation"]
    assert normalisation["kind"] == "standardise" and len(normalisation["std"]) == 384
    assert json.loads((folder / "target_normalisation.json").read_text()) == normalisation
    assert (folder / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert len(json.loads((folder / "loss_curve.json").read_text())["step_losses"]) == 40
    assert not (root / "distilled" / ".staging").exists() or not any(
        (root / "distilled" / ".staging").iterdir())  # shards and checkpoints are gone

    distilled = datasets.load_dataset(str(folder))["train"].with_format("torch")[:]
    assert distilled["inputs_embeds"].shape == (24, 32, 384)  # ready for a student's forward
    assert distilled["target"].shape == (24, 384)
    assert torch.all(distilled["attention_mask"].sum(1) >= 2)

    # The consumer recipe reads the same version and pre-trains the architecture it names.
    recipe = read_distilled(str(root))
    assert recipe.version == folder.name and recipe.student.d_model == 128
    assert torch.equal(recipe.targets, distilled["target"])
    assert recipe.normaliser == TargetNormaliser.from_json(normalisation)
    student = pretrain_on_distilled(recipe, epochs=2, seed=0)
    torch.manual_seed(0)
    fresh = TextStudent(recipe.student).eval()
    with torch.no_grad():
        assert not torch.allclose(student(recipe.inputs_embeds[:4], recipe.attention_mask[:4]),
                                  fresh(recipe.inputs_embeds[:4], recipe.attention_mask[:4]))
    with pytest.raises(NotDistilled, match="'document' dataset, not 'distilled'"):
        read_distilled(str(root), dataset="distilled_coreset")
    with pytest.raises(NotDistilled, match="no published version"):
        read_distilled(str(root), version="000000000000")

    coreset = pl.read_parquet(_latest(root, "distilled_coreset") / "data" / "*.parquet")
    pruned = pl.read_parquet(_latest(root, "pruned_source") / "data" / "*.parquet")
    assert coreset.height == 24 and coreset["id"].is_unique().all()
    assert set(coreset["id"]) <= set(pruned["id"])  # real texts of the distilled corpus

    assert main(["rebuild", str(full_example_config)]) == 0
    assert "distill: inputs, config and code unchanged" in capsys.readouterr().err


@pytest.mark.parametrize("replacements, message", [
    ({"m: 24": "m: 101"}, "pruned_source/train has 100 rows, fewer than m = 101"),
    ({"m: 24": "m: 0"}, "stages.distill.m: Input should be greater than 0"),
    ({"m: 24": "m: 24\n    max_real_texts: 10"}, "max_real_texts 10 is below m = 24"),
    ({"checkpoint_every: 50": "checkpoint_every: 50\n    device: gpu"},
     "stages.distill.device: Input should be 'cpu' or 'cuda'"),
    ({"source: pruned_source": "source: judgements"}, "'judgements' holds judgement rows"),
    pytest.param({"checkpoint_every: 50": "checkpoint_every: 50\n    device: cuda"},
                 "device is 'cuda' but torch sees no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(),
                                          reason="this machine has a CUDA device")),
])
def test_distill_errors_are_clear(pruned_example, tmp_path, capsys, replacements, message):
    config = tmp_path / "rebuild.yaml"
    config.write_text(pruned_example.read_text())
    _shorten(config, **replacements)
    assert main(["rebuild", str(config), "--stage", "distill"]) == 2
    assert message in capsys.readouterr().err
    assert not (pruned_example.parent / "out" / "distilled").exists()


def test_a_capped_corpus_is_a_seeded_sample_paired_by_shuffle(pruned_example, tmp_path, capsys):
    """Above max_real_texts the optimisation sees a seeded sample; above the broadcast bound
    the vectors are paired by a shuffle join, and the manifest says so."""
    root = tmp_path / "out"
    shutil.copytree(pruned_example.parent / "out", root)
    config = tmp_path / "rebuild.yaml"
    config.write_text(pruned_example.read_text().replace(
        str(pruned_example.parent / "out"), str(root)))
    _shorten(config, **{"m: 24": "m: 24\n    max_real_texts: 60",
                        "output_root": "scale: {broadcast_join_max_rows: 0}\noutput_root"})
    assert main(["rebuild", str(config), "--stage", "distill"]) == 0
    assert "distill counters: real_texts=60" in capsys.readouterr().err
    manifest = json.loads((_latest(root, "distilled") / "manifest.json").read_text())
    assert manifest["execution"] == {"vector_join": "shuffle", "vector_join_records": 60,
                                     "broadcast_join_max_rows": 0}
    pruned = pl.read_parquet(_latest(root, "pruned_source") / "data" / "*.parquet")
    sample = set(sorted(pruned["id"], key=lambda id_: sample_priority(13, id_))[:60])
    coreset = pl.read_parquet(_latest(root, "distilled_coreset") / "data" / "*.parquet")
    assert set(coreset["id"]) <= sample and coreset.height == 24
