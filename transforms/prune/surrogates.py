"""Surrogate source models: given a unit-length embedding, a probability for every source class.

Free of Beam. `CentroidSurrogate` scores classes by cosine to the class mean (the default, and what
feature mapping uses with k-means centroids as classes); `LinearSurrogate` is softmax regression on
the embeddings, the closer analogue of the source-trained network in Zhang et al. (2023).
"""

from dataclasses import dataclass

import numpy as np

# Cosine similarities live in [-1, 1]; a softmax over them needs a temperature to be peaked.
# 0.05 is the usual contrastive temperature for sentence embeddings.
CENTROID_TEMPERATURE = 0.05


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class CentroidSurrogate:
    classes: tuple[str, ...]
    centroids: np.ndarray  # (C, d), unit length

    @classmethod
    def from_means(cls, means: dict[str, np.ndarray]) -> "CentroidSurrogate":
        classes = tuple(sorted(means))
        matrix = np.stack([np.asarray(means[c], dtype=np.float32) for c in classes])  # (C, d)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return cls(classes, matrix / np.maximum(norms, 1e-12))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(N, d) -> (N, C)."""
        return softmax(vectors @ self.centroids.T / CENTROID_TEMPERATURE)


@dataclass(frozen=True)
class LinearSurrogate:
    classes: tuple[str, ...]
    weight: np.ndarray  # (C, d)
    bias: np.ndarray  # (C,)

    @classmethod
    def fit(cls, vectors: np.ndarray, labels: list[str], *, epochs: int = 200, lr: float = 0.1,
            weight_decay: float = 1e-4, seed: int = 0) -> "LinearSurrogate":
        """Full-batch softmax regression (AdamW); the sample is bounded by the caller."""
        import torch

        classes = tuple(sorted(set(labels)))
        index = {c: i for i, c in enumerate(classes)}
        generator = torch.Generator().manual_seed(seed)
        x = torch.as_tensor(vectors, dtype=torch.float32)  # (N, d)
        y = torch.tensor([index[label] for label in labels])  # (N,)
        with torch.random.fork_rng():  # the layer's default init must not shift the caller's RNG
            layer = torch.nn.Linear(x.shape[1], len(classes))
        with torch.no_grad():
            layer.weight.normal_(0.0, 0.01, generator=generator)
            layer.bias.zero_()
        optimiser = torch.optim.AdamW(layer.parameters(), lr=lr, weight_decay=weight_decay)
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(layer(x), y)
            loss.backward()
            optimiser.step()
        return cls(classes, layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(N, d) -> (N, C)."""
        return softmax(vectors @ self.weight.T + self.bias)


def spherical_kmeans(vectors: np.ndarray, k: int, *, seed: int = 0,
                     iterations: int = 50) -> np.ndarray:
    """k unit-length centroids of unit-length vectors: k-means++ seeding, then Lloyd steps on
    cosine similarity. Deterministic for a seed."""
    if k < 2:
        raise ValueError(f"k-means needs k >= 2 clusters, got {k}")
    if len(vectors) < k:
        raise ValueError(f"k-means with k={k} needs at least {k} vectors, got {len(vectors)}")
    rng = np.random.default_rng(seed)
    x = vectors.astype(np.float32)  # (N, d)
    centroids = [x[rng.integers(len(x))]]
    distance = 1.0 - x @ centroids[0]  # (N,) cosine distance to the nearest centroid so far
    for _ in range(1, k):
        weights = np.maximum(distance, 0.0) ** 2
        total = weights.sum()
        choice = rng.choice(len(x), p=weights / total) if total > 0 else rng.integers(len(x))
        centroids.append(x[choice])
        distance = np.minimum(distance, 1.0 - x @ x[choice])
    matrix = np.stack(centroids)  # (k, d)
    for _ in range(iterations):
        assignment = (x @ matrix.T).argmax(axis=1)  # (N,)
        updated = matrix.copy()
        for cluster in range(k):
            members = x[assignment == cluster]
            if len(members):
                mean = members.sum(axis=0)
                updated[cluster] = mean / max(np.linalg.norm(mean), 1e-12)
        if np.allclose(updated, matrix):
            break
        matrix = updated
    return matrix


def cluster_names(k: int) -> tuple[str, ...]:
    width = len(str(k - 1))
    return tuple(f"cluster_{i:0{width}d}" for i in range(k))
