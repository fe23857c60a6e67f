import numpy as np
import pytest

from transforms.prune.surrogates import (
    CentroidSurrogate,
    LinearSurrogate,
    cluster_names,
    spherical_kmeans,
)


def _blobs(seed: int = 0, per_class: int = 30) -> tuple[np.ndarray, list[str]]:
    """Three well separated directions in 8 dimensions, unit length."""
    rng = np.random.default_rng(seed)
    vectors, labels = [], []
    for index, name in enumerate(["a", "b", "c"]):
        centre = np.zeros(8)
        centre[index] = 1.0
        points = centre + 0.1 * rng.standard_normal((per_class, 8))
        vectors.append(points / np.linalg.norm(points, axis=1, keepdims=True))
        labels += [name] * per_class
    return np.concatenate(vectors).astype(np.float32), labels


def test_centroid_surrogate_puts_mass_on_the_nearest_class():
    vectors, labels = _blobs()
    means = {c: vectors[[i for i, label in enumerate(labels) if label == c]].mean(0) for c in "abc"}
    surrogate = CentroidSurrogate.from_means(means)
    probabilities = surrogate.probabilities(vectors)
    assert probabilities.shape == (90, 3)
    assert np.allclose(probabilities.sum(1), 1.0)
    assert [surrogate.classes[i] for i in probabilities.argmax(1)] == labels


def test_linear_surrogate_fits_separable_classes_deterministically():
    vectors, labels = _blobs()
    first = LinearSurrogate.fit(vectors, labels, epochs=100, seed=3)
    second = LinearSurrogate.fit(vectors, labels, epochs=100, seed=3)
    assert np.array_equal(first.weight, second.weight)
    predicted = [first.classes[i] for i in first.probabilities(vectors).argmax(1)]
    assert predicted == labels


def test_spherical_kmeans_recovers_blobs_and_is_seeded():
    vectors, _ = _blobs()
    centroids = spherical_kmeans(vectors, 3, seed=1)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0)
    assert np.array_equal(centroids, spherical_kmeans(vectors, 3, seed=1))
    assignment = (vectors @ centroids.T).argmax(1)
    for start in (0, 30, 60):  # each blob lands in one cluster
        assert len(set(assignment[start:start + 30])) == 1
    assert len(set(assignment)) == 3


def test_kmeans_errors_and_cluster_names():
    vectors, _ = _blobs(per_class=1)
    with pytest.raises(ValueError, match="at least 5 vectors"):
        spherical_kmeans(vectors, 5)
    assert cluster_names(12)[:2] == ("cluster_00", "cluster_01")
