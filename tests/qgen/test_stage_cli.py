"""The qgen stage through the CLI on the example judgements, with tiny models (seconds)."""

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main
from transforms.publish import store


def _latest(root: Path, dataset: str) -> Path:
    return root / dataset / store.latest_version(str(root), dataset)


def _with_qgen(config: Path, models: dict, **overrides: str) -> Path:
    # Queries for the 40 target test utterances only: generation is the slow part.
    settings = {"judgements": "judgements", "documents": "catalogue", "target": "target",
                "target_split": "test",
                "generator": str(models["generator"]), "classifier": str(models["classifier"]),
                "grades": "{Irrelevant: 1, Partial: 2, Exact: 3}", "train_steps": "8",
                "classifier_steps": "8", "train_batch_size": "8", "queries_per_grade": "2",
                "batch_size": "40", "faithfulness": "annotate", **overrides}
    lines = [f"    {key}: {value}" for key, value in settings.items()]
    config.write_text(config.read_text() + "  qgen:\n" + "\n".join(lines) + "\n")
    return config


def test_example_judgements_train_and_generate(example_config, tiny_models, capsys):
    config = _with_qgen(example_config, tiny_models)
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "qgen: generator step 8/8" in err and "qgen: classifier step 8/8" in err
    folder = _latest(root, "synthetic_queries")
    manifest = json.loads((folder / "manifest.json").read_text())
    queries = pl.read_parquet(folder / "data" / "*.parquet")
    target = pl.read_parquet(_latest(root, "target") / "data" / "test-*.parquet")
    generated = 40 * 3 * 2  # documents x grades x queries per grade
    assert queries.height + sum(manifest["drop_counts"].values()) == generated
    assert set(manifest["drop_counts"]) <= {"empty_query", "duplicate_query",
                                            "copied_from_document"}
    assert set(queries["doc_id"]) <= set(target["id"])
    assert set(queries["grade"]) <= {"Irrelevant", "Partial", "Exact"}
    assert queries["faithful"].to_list() == (
        queries["grade"] == queries["classifier_grade"]).to_list()
    assert queries["generator"].unique().to_list() == [manifest["models"]["generator"]]
    assert (folder / "grade_confusion.png").read_bytes()[:4] == b"\x89PNG"
    report = manifest["reports"]["classifier"]
    assert report["balance"] == "sampled"
    calibration = report["calibration"]  # the held-out slice of the training judgements
    assert set(calibration["recall"]) == {"Irrelevant", "Partial", "Exact"}
    assert 0 < calibration["pairs"] == sum(calibration["support"].values())
    for model in ("generator", "classifier"):
        folder = Path(manifest["models"][f"{model}_folder"])
        assert (folder / "COMPLETE.json").exists() and (folder / model).is_dir()

    # Another filter setting reuses the trained models: nothing is trained again.
    config.write_text(config.read_text().replace("faithfulness: annotate",
                                                 "faithfulness: filter"))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "reusing the generator trained earlier" in err and "generator step" not in err
    assert "reusing the classifier trained earlier" in err and "classifier step" not in err
    filtered = pl.read_parquet(_latest(root, "synthetic_queries") / "data" / "*.parquet")
    assert filtered["faithful"].all()
    drops = json.loads((_latest(root, "synthetic_queries") / "manifest.json").read_text())
    assert drops["drop_counts"].get("unfaithful", 0) == queries.height - filtered.height

    # A classifier setting retrains the classifier alone; the generator is reused.
    config.write_text(config.read_text().replace("classifier_steps: 8", "classifier_steps: 6"))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "reusing the generator trained earlier" in err and "generator step" not in err
    assert "qgen: classifier step 6/6" in err
    retrained = json.loads((_latest(root, "synthetic_queries") / "manifest.json").read_text())
    assert retrained["models"]["generator"] == drops["models"]["generator"]
    assert retrained["models"]["classifier"] != drops["models"]["classifier"]


def test_ratings_without_a_grade_go_to_dead_letter(example_config, tiny_models, capsys):
    config = _with_qgen(example_config, tiny_models,
                        grades="{Irrelevant: 1, Exact: 3}", queries_per_grade="1")
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    dead = pl.read_parquet(_latest(root, "dead_letter_qgen") / "data" / "*.parquet")
    judgements = pl.read_parquet(_latest(root, "judgements") / "data" / "*.parquet")
    assert dead.height == (judgements["grade"] == 2).sum()  # every rating of 2, nothing else
    assert set(dead["reason"]) == {"unknown_grade"}
    assert "rounds to 2, which no grade defines" in dead["detail"][0]


# A config error is exit 2 before any work; a qgen plan error comes after ingest published, 3.
@pytest.mark.parametrize("overrides, code, message", [
    ({"generator": "/nowhere/t5-small"}, 3, "qgen: generator '/nowhere/t5-small' cannot be loaded"),
    ({"grades": "{Exact: 3}"}, 2, "stages.qgen.grades: define at least two grades"),
    ({"judgements": "catalogue"}, 3, "qgen: 'catalogue' holds document rows, not judgement rows"),
])
def test_qgen_errors_are_clear(example_config, tiny_models, capsys, overrides, code, message):
    config = _with_qgen(example_config, tiny_models, **overrides)
    assert main(["rebuild", str(config)]) == code
    assert message in capsys.readouterr().err
    assert not (config.parent / "out" / "synthetic_queries").exists()


def test_pinned_train_seed_samples_other_seeds_from_the_same_models(example_config, tiny_models,
                                                                    capsys):
    config = _with_qgen(example_config, tiny_models, train_seed="13")
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    first = json.loads((_latest(root, "synthetic_queries") / "manifest.json").read_text())
    capsys.readouterr()

    config.write_text(config.read_text().replace("seed: 13", "seed: 14", 1))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "reusing the generator trained earlier" in err and "generator step" not in err
    second = json.loads((_latest(root, "synthetic_queries") / "manifest.json").read_text())
    assert second["version"] != first["version"]
    assert second["models"] == first["models"]
    queries = pl.read_parquet(_latest(root, "synthetic_queries") / "data" / "*.parquet")
    assert queries["seed"].unique().to_list() == [14]

    # Without the pin, another rebuild seed trains models of its own.
    config.write_text(config.read_text().replace("    train_seed: 13\n", ""))
    assert main(["rebuild", str(config)]) == 0
    assert "qgen: generator step 8/8" in capsys.readouterr().err


def test_training_holds_at_most_max_train_triples_the_same_sample_on_any_runner(
        example_config, tiny_models, capsys):
    config = _with_qgen(example_config, tiny_models, max_train_triples="100", train_steps="2",
                        classifier_steps="2")
    other = config.with_name("other.yaml")
    other.write_text(config.read_text().replace(f"output_root: {config.parent / 'out'}",
                                                f"output_root: {config.parent / 'other'}"))
    assert main(["rebuild", str(config)]) == 0
    assert "training_triples=100" in capsys.readouterr().err
    assert main(["rebuild", str(other), "--direct_num_workers", "2"]) == 0
    assert "training_triples=100" in capsys.readouterr().err
    hashes = []
    for root in (config.parent / "out", config.parent / "other"):
        manifest = json.loads((_latest(root, "synthetic_queries") / "manifest.json").read_text())
        for model in ("generator", "classifier"):
            folder = Path(manifest["models"][f"{model}_folder"])
            assert json.loads((folder / "COMPLETE.json").read_text())["triples"] == 100
        hashes.append(manifest["content_hash"])
    assert hashes[0] == hashes[1], "the same sample trains the same models on either runner"
