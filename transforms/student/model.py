"""A compact transformer text encoder over a frozen token-embedding table. Free of Beam.

The student never sees token ids: it reads `inputs_embeds` (B, L, d_in) rows of a frozen table E
(by default the teacher's word embeddings, all-MiniLM-L6-v2, 30522 x 384) and an attention mask.
Keeping E out of the student is what lets dataset distillation (KRR-ST) learn synthetic inputs in
that continuous space and train the very same student on them.
"""

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    LOCAL_ONLY,
    EncoderUnavailable,
    resolve_encoder,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class StudentSettings:
    d_in: int = 384  # width of the frozen token-embedding table
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    ff: int = 256
    max_len: int = 32  # learned positions; longer inputs must be truncated by the caller
    dropout: float = 0.1


class TextStudent(nn.Module):
    """inputs_embeds (B, L, d_in) + attention_mask (B, L) -> features (B, d_model)."""

    def __init__(self, config: StudentSettings) -> None:
        super().__init__()
        self.config = config
        self.input_proj = nn.Linear(config.d_in, config.d_model)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        # Pre-norm layers train stably at this size without a warm-up schedule.
        layer = nn.TransformerEncoderLayer(
            config.d_model, config.heads, config.ff, config.dropout,
            activation="gelu", batch_first=True, norm_first=True)
        # No nested tensors: they change the numerics between train and eval, and the fast path
        # they enable gives nothing at this size.
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)  # pre-norm layers leave the last output unnormed

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        _, length, _ = inputs_embeds.shape
        if length > self.config.max_len:
            raise ValueError(f"sequence length {length} > max_len {self.config.max_len}")
        positions = torch.arange(length, device=inputs_embeds.device)  # (L,)
        x = self.input_proj(inputs_embeds) + self.position(positions)  # (B, L, d)
        x = self.drop(x)
        padding = attention_mask == 0  # (B, L), True where attention must ignore a position
        x = self.encoder(x, src_key_padding_mask=padding)  # (B, L, d)
        x = self.norm(x)
        # Mean over real positions only, so padding never changes a text's features.
        weights = attention_mask.unsqueeze(-1).to(x.dtype)  # (B, L, 1)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, d)


@dataclass(frozen=True)
class TokenEmbeddingTable:
    """The frozen table E (V, d_in) and the tokenizer that indexes it."""

    model: str
    weight: torch.Tensor  # (V, d_in), requires_grad False
    tokenizer: "PreTrainedTokenizerBase"
    max_len: int

    @classmethod
    def load(cls, model: str = DEFAULT_ENCODER, max_len: int = 32) -> "TokenEmbeddingTable":
        """Reads the input embeddings of a local Hugging Face encoder; nothing is downloaded."""
        from transformers import AutoModel, AutoTokenizer

        location = resolve_encoder(model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
            encoder = AutoModel.from_pretrained(location, **LOCAL_ONLY)
        except (OSError, ValueError) as error:  # ValueError: the folder needs its own code
            raise EncoderUnavailable(f"cannot load {model!r} offline: {error}") from None
        weight = encoder.get_input_embeddings().weight.detach().clone().requires_grad_(False)
        return cls(model, weight, tokenizer, max_len)

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> ids (N, L) and mask (N, L), truncated and padded to exactly max_len."""
        batch = self.tokenizer(texts, padding="max_length", truncation=True,
                               max_length=self.max_len, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (N, L) -> inputs_embeds (N, L, d_in)."""
        return self.weight[ids]

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (inputs_embeds (N, L, d_in), attention_mask (N, L))."""
        ids, mask = self.tokenize(texts)
        return self.embed(ids), mask


def table_identity(table: TokenEmbeddingTable) -> str:
    """`model@hash-of-table`: a distilled set is only meaningful over the exact table it was
    learned on, so manifests record this rather than the model name alone."""
    data = table.weight.detach().to(torch.float32).contiguous().numpy().tobytes()
    return f"{table.model}@{hashlib.sha256(data).hexdigest()[:12]}"
