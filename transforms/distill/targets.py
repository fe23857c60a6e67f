"""Teacher-target normalisation for regression onto the teacher space. Free of Beam.

The teacher's sentence vectors are unit length: each of 384 dimensions varies by ~0.05 around a
large mean shared by every text, so under MSE a student that predicts the mean already scores well
and learns little (BENCHMARKS.md, "Distill: quality"). Feature-distillation work normalises the
targets first; the same normalisation must be applied to every target a student regresses onto:
the real texts' in KRR-ST, the synthetic Y_s it learns, and any real texts a consumer mixes in.

- `standardise`: per dimension, (y - mean) / std, with the mean and std of the real corpus;
- `layer_norm`: per vector, (y - mean(y)) / std(y) over its own dimensions (LayerNorm without an
  affine part), which needs no statistics;
- `none`: the raw vectors.
"""

from dataclasses import dataclass
from typing import Literal

import torch

TargetNormalisation = Literal["none", "standardise", "layer_norm"]
NORMALISATIONS: tuple[TargetNormalisation, ...] = ("none", "standardise", "layer_norm")
EPSILON = 1e-6  # the smallest spread divided by; a constant dimension stays finite


@dataclass(frozen=True)
class TargetNormaliser:
    """A fitted normalisation: what a consumer needs to map teacher vectors into the space the
    published targets live in (`normalise`) and back (`denormalise`)."""

    kind: TargetNormalisation
    mean: tuple[float, ...] = ()  # per dimension, `standardise` only
    std: tuple[float, ...] = ()

    @classmethod
    def fit(cls, kind: TargetNormalisation, targets: torch.Tensor) -> "TargetNormaliser":
        """Statistics of (N, t) teacher vectors; only `standardise` keeps any."""
        if kind not in NORMALISATIONS:
            raise ValueError(f"unknown target normalisation {kind!r}; one of {NORMALISATIONS}")
        if kind != "standardise":
            return cls(kind)
        values = targets.double()
        return cls(kind, tuple(values.mean(0).tolist()),
                   tuple(values.std(0, unbiased=False).clamp(min=EPSILON).tolist()))

    def normalise(self, targets: torch.Tensor) -> torch.Tensor:
        """(N, t) teacher vectors -> (N, t) targets in the normalised space (float32)."""
        targets = targets.float()
        if self.kind == "standardise":
            mean, std = torch.tensor(self.mean), torch.tensor(self.std)
            return ((targets - mean) / std).float()
        if self.kind == "layer_norm":
            centred = targets - targets.mean(-1, keepdim=True)
            return centred / centred.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=EPSILON)
        return targets

    def denormalise(self, targets: torch.Tensor) -> torch.Tensor:
        """The inverse of `standardise`; `layer_norm` drops each vector's mean and scale, so its
        targets stay in the normalised space (unit direction is what cosine similarity needs)."""
        if self.kind == "standardise":
            return targets.float() * torch.tensor(self.std) + torch.tensor(self.mean)
        return targets.float()

    def to_json(self) -> dict:
        return {"kind": self.kind, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: dict) -> "TargetNormaliser":
        return cls(data["kind"], tuple(data.get("mean", ())), tuple(data.get("std", ())))
