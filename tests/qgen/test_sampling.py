"""The stage's sampler: Hugging Face's distribution, and one random generator per row."""

import pytest
import torch

from transforms.qgen.sampling import candidate_distribution, row_seed, sample_next_tokens


@pytest.mark.parametrize("top_k, top_p, temperature", [(50, 0.95, 1.0), (5, 0.5, 0.7),
                                                       (0, 0.9, 1.3), (10, 1.0, 1.0)])
def test_the_distribution_is_hugging_faces(top_k, top_p, temperature):
    from transformers import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    logits = torch.randn(4, 300, generator=torch.Generator().manual_seed(0)) * 3
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)]
                                  + ([TopKLogitsWarper(top_k)] if top_k else [])
                                  + ([TopPLogitsWarper(top_p)] if top_p < 1 else []))
    expected = warpers(None, logits.clone()).softmax(-1)  # (R, V)
    probabilities, indices = candidate_distribution(logits, top_k=top_k, top_p=top_p,
                                                    temperature=temperature)
    ours = torch.zeros_like(expected).scatter(-1, indices, probabilities)
    ours = ours / ours.sum(-1, keepdim=True)
    assert torch.allclose(ours, expected, atol=1e-6)


def test_a_row_draws_the_same_token_whatever_else_is_in_the_batch():
    logits = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))

    def draw(rows: list[int]) -> list[int]:
        generators = [torch.Generator().manual_seed(row_seed("s", row)) for row in rows]
        return sample_next_tokens(logits[rows], generators, top_k=20, top_p=0.9,
                                  temperature=1.0).tolist()

    alone = [draw([row])[0] for row in range(3)]
    assert draw([0, 1, 2]) == alone and draw([2, 0]) == [alone[2], alone[0]]
