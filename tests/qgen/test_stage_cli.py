"""The qgen stage through the CLI on the example judgements, with tiny models (seconds)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.cli import main
from transforms.publish import store
from transforms.qgen.filters import calibrated_thresholds


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


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_example_judgements_train_and_generate(example_config, tiny_models, capsys):
    config = _with_qgen(example_config, tiny_models)
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "qgen: generator step 8/8" in err and "qgen: classifier step 8/8" in err
    folder = _latest(root, "scored_queries")
    manifest = _manifest(folder)
    scored = pl.read_parquet(folder / "data" / "*.parquet")
    target = pl.read_parquet(_latest(root, "target") / "data" / "test-*.parquet")
    generated = 40 * 3 * 2  # documents x grades x queries per grade
    assert scored.height + sum(manifest["drop_counts"].values()) == generated
    assert set(manifest["drop_counts"]) <= {"empty_query", "duplicate_query"}
    assert set(scored["doc_id"]) <= set(target["id"])
    assert set(scored["grade"]) <= {"Irrelevant", "Partial", "Exact"}
    probabilities = np.array(scored["grade_probabilities"].to_list())
    assert probabilities.shape == (scored.height, 3)
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    grades = ["Irrelevant", "Partial", "Exact"]
    assert scored["classifier_grade"].to_list() == [grades[i] for i in probabilities.argmax(1)]
    assert scored["generator"].unique().to_list() == [manifest["models"]["generator"]]
    assert (folder / "grade_confusion.png").read_bytes()[:4] == b"\x89PNG"
    report = manifest["reports"]["classifier"]
    assert report["balance"] == "sampled"
    calibration = report["calibration"]  # the held-out slice of the training judgements
    assert set(calibration["recall"]) == set(grades)
    assert 0 < calibration["pairs"] == sum(calibration["support"].values())
    curves = calibration["threshold_curves"]  # what the default thresholds are chosen from
    assert [sum(curves["counts"][grades[0]][g][0] for g in grades)] == [calibration["pairs"]]
    thresholds = calibrated_thresholds(curves)
    assert set(thresholds) == set(grades) and all(0 < t < 1 for t in thresholds.values())
    for model in ("generator", "classifier"):
        model_folder = Path(manifest["models"][f"{model}_folder"])
        assert (model_folder / "COMPLETE.json").exists() and (model_folder / model).is_dir()

    # synthetic_queries: the scored queries not copied from their document, each marked
    # faithful when the probability of its grade reaches that grade's threshold.
    kept_folder = _latest(root, "synthetic_queries")
    kept_manifest = _manifest(kept_folder)
    kept = pl.read_parquet(kept_folder / "data" / "*.parquet")
    assert kept_manifest["parents"] == {"scored_queries": manifest["version"]}
    assert kept_manifest["models"] == manifest["models"]
    assert kept.height + kept_manifest["drop_counts"].get("copied_from_document", 0) == (
        scored.height)
    asked = np.array([probabilities[row, grades.index(grade)] for row, grade in
                      enumerate(scored["grade"])])
    faithful = dict(zip(zip(scored["doc_id"], scored["query"]),
                        asked >= np.array([thresholds[g] for g in scored["grade"]])))
    assert kept["faithful"].to_list() == [faithful[key] for key in
                                          zip(kept["doc_id"], kept["query"])]
    filter_report = kept_manifest["reports"]["filter"]
    assert filter_report["thresholds"] == thresholds
    assert sum(filter_report["scored"].values()) == scored.height
    assert sum(filter_report["kept"].values()) == kept.height

    # Another decision re-runs no model and scores nothing again: qgen is unchanged. The Exact
    # threshold set to the median probability of Exact among the queries asked to be Exact.
    cut = float(np.quantile(asked[(scored["grade"] == "Exact").to_numpy()], 0.5,
                            method="lower"))
    config.write_text(config.read_text().replace(
        "faithfulness: annotate", f"faithfulness: filter\n    faithfulness_threshold: "
        f"{{Exact: {cut!r}}}"))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "qgen: inputs, config and code unchanged" in err and "generator step" not in err
    filtered_folder = _latest(root, "synthetic_queries")
    filtered = pl.read_parquet(filtered_folder / "data" / "*.parquet")
    assert filtered["faithful"].all()
    exact = filtered.filter(pl.col("grade") == "Exact")["grade_probabilities"].list.get(2)
    assert exact.len() > 0 and (exact >= cut).all()
    drops = _manifest(filtered_folder)
    assert drops["reports"]["filter"]["thresholds"] == thresholds | {"Exact": cut}
    assert drops["drop_counts"].get("unfaithful", 0) + filtered.height == kept.height

    # A classifier setting retrains the classifier alone; the generator is reused.
    config.write_text(config.read_text().replace("classifier_steps: 8", "classifier_steps: 6"))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "reusing the generator trained earlier" in err and "generator step" not in err
    assert "qgen: classifier step 6/6" in err
    retrained = _manifest(_latest(root, "scored_queries"))
    assert retrained["models"]["generator"] == manifest["models"]["generator"]
    assert retrained["models"]["classifier"] != manifest["models"]["classifier"]


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
    ({"faithfulness_threshold": "{Relevant: 0.5}"}, 2,
     "faithfulness_threshold names 'Relevant', which is no grade"),
    ({"faithfulness_threshold": "{Exact: 1.5}"}, 2,
     "the threshold of 'Exact' is 1.5: a probability threshold lies in (0, 1]"),
    ({"round_trip_top_k": "1"}, 2, "round_trip_top_k needs round_trip_documents"),
    ({"round_trip_documents": "50", "round_trip_pool": "50"}, 2,
     "round_trip_documents (50) must be below round_trip_pool (50)"),
])
def test_qgen_errors_are_clear(example_config, tiny_models, capsys, overrides, code, message):
    config = _with_qgen(example_config, tiny_models, **overrides)
    assert main(["rebuild", str(config)]) == code
    assert message in capsys.readouterr().err
    assert not (config.parent / "out" / "scored_queries").exists()


def _hashed_probabilities(self, queries, documents, max_tokens, batch_size=64):
    """A stand-in for the classifier's scores: a pair's probabilities from a hash of the pair,
    so scores spread widely and are known without the model."""
    rows = []
    for query, document in zip(queries, documents):
        digest = hashlib.sha256(f"{query}\0{document}".encode()).digest()
        weights = np.array([1 + digest[0], 1 + digest[1], 1 + digest[2]], dtype=np.float64)
        rows.append(weights / weights.sum())
    return np.array(rows).reshape(len(queries), 3)


def test_round_trip_ranks_each_checked_query_s_own_document_and_the_filter_decides_on_it(
        example_config, tiny_models, capsys, monkeypatch):
    from transforms.qgen.classifier import GradeClassifier
    from transforms.qgen.grades import GradeScheme
    from transforms.qgen.round_trip import comparison_documents, pool_priority, relevance

    monkeypatch.setattr(GradeClassifier, "probabilities", _hashed_probabilities)
    config = _with_qgen(example_config, tiny_models, round_trip_documents="5",
                        round_trip_pool="20", queries_per_grade="1")
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    folder = _latest(root, "scored_queries")
    manifest = _manifest(folder)
    scored = pl.read_parquet(folder / "data" / "*.parquet")
    checked = scored.filter(pl.col("grade") != "Irrelevant")
    assert scored.filter(pl.col("grade") == "Irrelevant")["own_document_rank"].is_null().all()
    assert checked.height and checked["own_document_rank"].is_between(1, 6).all()

    # The rank again, by hand: the pool is the 20 target documents with the largest seeded
    # priority; each query is scored against 5 of them other than its own.
    target = pl.read_parquet(_latest(root, "target") / "data" / "test-*.parquet")
    seed = manifest["config"]["seed"]
    pool = sorted(zip(target["id"], target["text"]),
                  key=lambda row: pool_priority(row[0], seed), reverse=True)[:20]
    scheme = GradeScheme((("Irrelevant", 1.0), ("Partial", 2.0), ("Exact", 3.0)))
    expected = []
    for row in checked.iter_rows(named=True):
        others = comparison_documents(pool, row["doc_id"], row["query"], 5, seed)
        scores = _hashed_probabilities(None, [row["query"]] * 5, [text for _, text in others], 0)
        own = relevance(row["grade_probabilities"], scheme)
        expected.append(1 + sum(relevance(p, scheme) > own for p in scores.round(6).tolist()))
    assert checked["own_document_rank"].to_list() == expected
    assert len(set(expected)) > 2  # the check is not passed by a constant rank

    # The decision on it re-runs no model: only queries whose own document ranks first stay.
    capsys.readouterr()
    config.write_text(config.read_text() + "    round_trip_top_k: 1\n")
    assert main(["rebuild", str(config)]) == 0
    assert "qgen: inputs, config and code unchanged" in capsys.readouterr().err
    kept_folder = _latest(root, "synthetic_queries")
    kept = pl.read_parquet(kept_folder / "data" / "*.parquet")
    kept_manifest = _manifest(kept_folder)
    assert ((kept["own_document_rank"] == 1) | kept["own_document_rank"].is_null()).all()
    drops = kept_manifest["drop_counts"]
    assert 0 < drops["not_round_trip_consistent"] <= (checked["own_document_rank"] > 1).sum()
    assert kept_manifest["reports"]["filter"]["round_trip_top_k"] == 1
    assert kept.height + sum(drops.values()) == scored.height


def test_pinned_train_seed_samples_other_seeds_from_the_same_models(example_config, tiny_models,
                                                                    capsys):
    config = _with_qgen(example_config, tiny_models, train_seed="13")
    root = config.parent / "out"
    assert main(["rebuild", str(config)]) == 0
    first = _manifest(_latest(root, "scored_queries"))
    capsys.readouterr()

    config.write_text(config.read_text().replace("seed: 13", "seed: 14", 1))
    assert main(["rebuild", str(config)]) == 0
    err = capsys.readouterr().err
    assert "reusing the generator trained earlier" in err and "generator step" not in err
    second = _manifest(_latest(root, "scored_queries"))
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
        manifest = _manifest(_latest(root, "scored_queries"))
        for model in ("generator", "classifier"):
            folder = Path(manifest["models"][f"{model}_folder"])
            assert json.loads((folder / "COMPLETE.json").read_text())["triples"] == 100
        hashes.append(manifest["content_hash"])
    assert hashes[0] == hashes[1], "the same sample trains the same models on either runner"
