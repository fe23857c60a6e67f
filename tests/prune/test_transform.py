"""PruneSource and KeepSourceRows end to end on hand-made vectors, with TestPipeline."""

from dataclasses import replace

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.prune.transform import KeepSourceRows, PruneSettings, PruneSource
from transforms.text_keys import text_hash
from transforms.vector_join import VectorJoin

# Both joins must keep the same rows: a broadcast (the records fit under the bound) and a shuffle.
JOINS = pytest.mark.parametrize("join", [VectorJoin(30, 1_000), VectorJoin(30, 0)],
                                ids=["broadcast", "shuffle"])

AXES = {"kitchen": 0, "garden": 1, "tools": 2, "pets": 3}


def _vector(axis: int, jitter: float) -> np.ndarray:
    vector = np.full(4, 0.05, dtype=np.float32)
    vector[axis] = 1.0 + jitter
    return vector / np.linalg.norm(vector)


def _source() -> list:
    pairs = []
    for name, axis in AXES.items():
        for i in range(5):
            pairs.append(({"id": f"{name}-{i}", "text": f"{name} {i}", "label": name,
                           "domain": None, "metadata": None}, _vector(axis, 0.01 * i)))
    pairs.append(({"id": "nolabel", "text": "no label", "label": None, "domain": None,
                   "metadata": None}, _vector(0, 0.0)))
    return pairs


def _rows() -> list:
    """The source rows as read again for publishing, plus one whose text has no vector."""
    return [record for record, _ in _source()] + [
        {"id": "novector", "text": "unseen", "label": "kitchen", "domain": None, "metadata": None}]


def _kept_rows(pipeline, settings, result, join, vectors=None):
    rows = pipeline | "rows" >> beam.Create(_rows())
    attached = {  # what AttachEmbeddings says about the source rows
        "missing": pipeline | "missing" >> beam.Create([("source", _rows()[-1])]),
        "matched": pipeline | "matched" >> beam.Create(
            [(text_hash(record["text"]), None) for record, _ in _source()])}
    return rows | KeepSourceRows(settings, result, attached, join, vectors)


def _target() -> list:
    """Six target examples near `kitchen`, three near `garden`, one with an unknown label."""
    return ([({"text": f"k{i}", "label": "cook"}, _vector(0, 0.02 * i)) for i in range(6)]
            + [({"text": f"g{i}", "label": "plant"}, _vector(1, 0.0)) for i in range(3)]
            + [({"text": "odd", "label": "weird"}, _vector(2, 0.0))])


BASE = PruneSettings(mode="label", surrogate="centroid", retain_classes=2, prune_ratio=None,
                     clusters=4, reservoir_size=100, linear_sample_per_class=100, seed=0,
                     source="catalogue", source_version="s1", target="target",
                     target_version="t1", target_labels=("cook", "plant"))


def _settings(**overrides) -> PruneSettings:
    return replace(BASE, **overrides)


@JOINS
@pytest.mark.parametrize("surrogate", ["centroid", "linear"])
def test_label_mapping_keeps_the_voted_classes(surrogate, join):
    with TestPipeline(runner="FnApiRunner") as pipeline:
        target = pipeline | "target" >> beam.Create(_target())
        settings = _settings(surrogate=surrogate)
        result = (pipeline | "source" >> beam.Create(_source())) | PruneSource(settings, target)
        kept = _kept_rows(pipeline, settings, result, join)
        assert_that(kept["kept"] | beam.Map(lambda r: r["label"]),
                    equal_to(["kitchen"] * 5 + ["garden"] * 5), label="kept records")
        # Zero-vote classes are ordered by probability mass, which depends on the surrogate.
        assert_that(result["ranking"] | beam.Map(
                        lambda r: (r["source_class"], r["votes"], r["kept"],
                                   tuple(r["top_target_classes"]),
                                   r["rank"] if r["votes"] else "3 or 4")),
                    equal_to([("kitchen", 6, True, ("cook",), 1), ("garden", 3, True, ("plant",), 2),
                              ("pets", 0, False, (), "3 or 4"), ("tools", 0, False, (), "3 or 4")]),
                    label="ranking")
        assert_that(kept["drops"], equal_to([("pruned_class", 1)] * 10), label="drops")
        assert_that(result["dead_letters"] | beam.Map(lambda d: (d["reason"], d["source"])),
                    equal_to([("missing_label", "catalogue"), ("unknown_target_label", "target")]),
                    label="dead letters")
        assert_that(result["chart"] | beam.Map(lambda c: (c[0], c[1][:4])),
                    equal_to([("votes_per_class.png", b"\x89PNG")]), label="chart")


@JOINS
def test_feature_mapping_keeps_clusters_without_labels(join):
    with TestPipeline(runner="FnApiRunner") as pipeline:
        target = pipeline | "target" >> beam.Create(_target())
        settings = _settings(mode="feature", retain_classes=1, target_labels=None)
        result = (pipeline | "source" >> beam.Create(_source())) | PruneSource(settings, target)
        vectors = pipeline | "vectors" >> beam.Create(
            [(text_hash(record["text"]), vector) for record, vector in _source()])
        kept = _kept_rows(pipeline, settings, result, join, vectors)
        # The top cluster is the kitchen direction; the unlabelled record sits on it too.
        assert_that(kept["kept"] | beam.Map(lambda r: r["id"]),
                    equal_to([f"kitchen-{i}" for i in range(5)] + ["nolabel"]), label="kept")
        assert_that(kept["drops"], equal_to([("pruned_class", 1)] * 15), label="drops")
        assert_that(result["dead_letters"], equal_to([]), label="no dead letters")


def test_samples_do_not_depend_on_arrival_order():
    """Beam may deliver a sample in any order: fitting sorts by the seeded content priority."""
    from transforms.prune.transform import _fit_kmeans, _fit_linear, _prioritised

    pairs = _source()[:-1]
    sample = [_prioritised(pair, 0) for pair in pairs]
    shuffled = list(reversed(sample))
    assert np.array_equal(_fit_kmeans(sample, 4, 0).centroids,
                          _fit_kmeans(shuffled, 4, 0).centroids)
    by_label = {}
    for (record, _), item in zip(pairs, sample):
        by_label.setdefault(record["label"], []).append(item)
    reordered = {label: list(reversed(items)) for label, items in reversed(by_label.items())}
    assert np.array_equal(_fit_linear(by_label, 0).weight, _fit_linear(reordered, 0).weight)
