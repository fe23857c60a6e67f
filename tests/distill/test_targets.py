import pytest
import torch

from transforms.distill.targets import TargetNormaliser


def _unit_vectors(n: int = 200, dim: int = 16) -> torch.Tensor:
    """Like sentence vectors: unit length around a large shared mean."""
    generator = torch.Generator().manual_seed(0)
    vectors = 3.0 + torch.randn(n, dim, generator=generator) * torch.linspace(0.1, 2.0, dim)
    return vectors / vectors.norm(dim=1, keepdim=True)


def test_standardise_gives_every_dimension_zero_mean_and_unit_spread():
    vectors = _unit_vectors()
    normaliser = TargetNormaliser.fit("standardise", vectors)
    normalised = normaliser.normalise(vectors)
    assert torch.allclose(normalised.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(normalised.std(0, unbiased=False), torch.ones(16), atol=1e-4)
    assert torch.allclose(normaliser.denormalise(normalised), vectors, atol=1e-5)


def test_layer_norm_centres_and_scales_each_vector_without_statistics():
    vectors = _unit_vectors()
    normaliser = TargetNormaliser.fit("layer_norm", vectors)
    assert normaliser.mean == () and normaliser.std == ()
    normalised = normaliser.normalise(vectors)
    assert torch.allclose(normalised.mean(1), torch.zeros(200), atol=1e-5)
    assert torch.allclose(normalised.pow(2).mean(1), torch.ones(200), atol=1e-4)
    # One vector alone normalises the same as in a batch: nothing depends on the corpus.
    assert torch.allclose(normaliser.normalise(vectors[:1]), normalised[:1])


def test_none_leaves_the_vectors_alone():
    vectors = _unit_vectors()
    assert torch.equal(TargetNormaliser.fit("none", vectors).normalise(vectors), vectors)


def test_a_constant_dimension_stays_finite():
    vectors = _unit_vectors()
    vectors[:, 3] = 0.25
    normalised = TargetNormaliser.fit("standardise", vectors).normalise(vectors)
    assert torch.isfinite(normalised).all() and torch.all(normalised[:, 3] == 0)


def test_round_trips_through_json():
    normaliser = TargetNormaliser.fit("standardise", _unit_vectors())
    assert TargetNormaliser.from_json(normaliser.to_json()) == normaliser


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown target normalisation 'zscore'"):
        TargetNormaliser.fit("zscore", _unit_vectors())
