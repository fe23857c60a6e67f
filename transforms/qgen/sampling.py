"""Seeded top-k / top-p sampling with one random generator per output row. Free of Beam.

Hugging Face's `generate` draws every row of a batch from one global generator, so a query
depends on which other inputs share its batch, and Beam's bundling decides that. Here each row
has its own `torch.Generator`, seeded from what the row is (seed, document, grade, query index),
so a query is the same in any batch. The distribution is Hugging Face's (temperature, then top-k,
then top-p), computed on the k largest logits only: the full-vocabulary sort is skipped.
"""

import hashlib

import torch


def row_seed(*parts: object) -> int:
    """A 63-bit seed from what a row is: the same parts give the same seed on every machine."""
    digest = hashlib.sha256("\0".join(str(part) for part in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def candidate_distribution(logits: torch.Tensor, *, top_k: int, top_p: float,
                           temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (R, V) -> (probabilities, token ids), both (R, k): the tokens that can be drawn,
    most likely first, with their unnormalised probabilities (0 for tokens top-p removes)."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        values, indices = logits.topk(top_k, dim=-1)  # (R, k), most likely first
    else:
        values, indices = logits.sort(dim=-1, descending=True)  # (R, V)
    probabilities = values.softmax(-1)
    if top_p < 1.0:
        # Keep a token while the mass of the more likely ones is below top_p (so at least one).
        before = probabilities.cumsum(-1) - probabilities
        probabilities = probabilities.masked_fill(before >= top_p, 0.0)
    return probabilities, indices


def sample_next_tokens(logits: torch.Tensor, generators: list[torch.Generator], *, top_k: int,
                       top_p: float, temperature: float) -> torch.Tensor:
    """logits (R, V) -> one sampled token id per row (R,), row r drawn with generators[r]."""
    probabilities, indices = candidate_distribution(logits, top_k=top_k, top_p=top_p,
                                                    temperature=temperature)
    chosen = torch.stack([torch.multinomial(probabilities[row], 1, generator=generator)
                          for row, generator in enumerate(generators)])  # (R, 1)
    return indices.gather(-1, chosen).squeeze(-1)
