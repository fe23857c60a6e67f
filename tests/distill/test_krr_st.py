import io

import pytest
import torch

from transforms.distill.krr_st import KrrStDistiller, KrrStSettings, krr_predict
from transforms.student.model import StudentSettings

STUDENT = StudentSettings(d_in=8, d_model=16, layers=1, heads=2, ff=32, max_len=6, dropout=0.0)


def _real_data(n: int = 200, seed: int = 0):
    """Random token sequences with a teacher that is a fixed non-linear map of their mean."""
    generator = torch.Generator().manual_seed(seed)
    embeds = torch.randn(n, 6, 8, generator=generator)  # (N, L, d)
    mask = torch.ones(n, 6, dtype=torch.long)
    mask[: n // 2, 4:] = 0
    projection = torch.randn(8, 5, generator=generator)
    mean = (embeds * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # (N, d)
    targets = torch.tanh(mean @ projection)  # (N, t)
    return embeds, mask, targets


def _sampler(embeds, mask, targets, batch: int):
    def sample(generator: torch.Generator):
        index = torch.randint(len(embeds), (batch,), generator=generator)
        return embeds[index], mask[index], targets[index]
    return sample


def _distiller(config: KrrStSettings, data) -> KrrStDistiller:
    embeds, mask, targets = data
    return KrrStDistiller(config, STUDENT, embeds[: config.m], mask[: config.m],
                          targets[: config.m])


def test_primal_and_dual_forms_agree():
    generator = torch.Generator().manual_seed(1)
    features_s = torch.randn(40, 7, generator=generator, dtype=torch.float64)  # h + 1 = 8 < m
    targets_s = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    features_r = torch.randn(5, 7, generator=generator, dtype=torch.float64)
    primal = krr_predict(features_s, targets_s, features_r, ridge=1e-3)
    fs = torch.cat([features_s, torch.ones(40, 1, dtype=torch.float64)], 1)
    fr = torch.cat([features_r, torch.ones(5, 1, dtype=torch.float64)], 1)
    kernel = fs @ fs.T
    lam = 1e-3 * torch.trace(kernel)
    dual = fr @ fs.T @ torch.linalg.solve(kernel + lam * torch.eye(40, dtype=torch.float64),
                                          targets_s)
    assert torch.allclose(primal, dual, atol=1e-8)


def test_outer_loss_falls_over_50_steps():
    data = _real_data()
    config = KrrStSettings(m=10, pool_size=3, pool_steps=10, real_batch=64, steps=50, lr=0.05,
                         seed=0)
    distiller = _distiller(config, data)
    sample = _sampler(*data, config.real_batch)
    losses = [distiller.outer_step(sample) for _ in range(config.steps)]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10


def test_resumed_run_reproduces_an_uninterrupted_one():
    data = _real_data()
    config = KrrStSettings(m=8, pool_size=2, pool_steps=4, real_batch=32, steps=12, lr=0.01, seed=3)
    sample = _sampler(*data, config.real_batch)
    straight = _distiller(config, data)
    expected = [straight.outer_step(sample) for _ in range(12)]

    first = _distiller(config, data)
    for _ in range(5):
        first.outer_step(sample)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(999)  # a new process starts from some other global RNG state
    resumed = _distiller(config, data)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    rest = [resumed.outer_step(sample) for _ in range(7)]
    assert resumed.losses == expected
    assert rest == expected[5:]
    assert torch.equal(resumed.x_s, straight.x_s) and torch.equal(resumed.y_s, straight.y_s)


def test_bad_sizes_are_clear_errors():
    data = _real_data()
    with pytest.raises(ValueError, match="m must be positive"):
        _distiller(KrrStSettings(m=0), data)
    with pytest.raises(ValueError, match="pool_steps"):
        _distiller(KrrStSettings(m=4, pool_steps=1), data)
