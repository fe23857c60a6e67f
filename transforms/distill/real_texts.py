"""The real side of KRR-ST: source texts as token ids over the frozen table, with their teacher
targets (the `embeddings` dataset's vectors). No Beam pipeline code: only Beam's filesystems, to
read the shards from any store.

The tokenised corpus is materialised as Parquet shards (one row per text) by parallel work; the
single optimisation worker loads them into compact arrays (4 L + 4 t bytes per text, ~1.7 KB at
L = 32, t = 384) and draws real batches from them, so no step tokenises or runs the teacher.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from apache_beam.io.filesystems import FileSystems

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from transforms.student.model import TokenEmbeddingTable

REAL_TEXT = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("label", pa.string()),
    pa.field("input_ids", pa.list_(pa.int32()), nullable=False),  # exactly L, padded
    pa.field("length", pa.int32(), nullable=False),  # real tokens, [CLS] and [SEP] included
    pa.field("target", pa.list_(pa.float32()), nullable=False),  # teacher vector
])


def tokenize_batch(tokenizer: "PreTrainedTokenizerBase", texts: list[str],
                   sequence_length: int) -> tuple[list[list[int]], list[int]]:
    """Texts -> token ids padded/truncated to exactly `sequence_length`, and real lengths."""
    batch = tokenizer(texts, padding="max_length", truncation=True,
                      max_length=sequence_length, return_attention_mask=True)
    return batch["input_ids"], [sum(mask) for mask in batch["attention_mask"]]


def length_mask(lengths: torch.Tensor, sequence_length: int) -> torch.Tensor:
    """(N,) real lengths -> (N, L) attention mask of 1s then 0s."""
    return (torch.arange(sequence_length).unsqueeze(0) < lengths.unsqueeze(1)).long()


@dataclass(frozen=True)
class RealTexts:
    """The materialised corpus, sorted by id so every run sees it in the same order."""

    input_ids: torch.Tensor  # (N, L) int32
    lengths: torch.Tensor  # (N,) int64
    targets: torch.Tensor  # (N, t) float32
    rows: pa.Table  # id, text, label, in the same order

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def sequence_length(self) -> int:
        return int(self.input_ids.shape[1])

    @classmethod
    def load(cls, paths: list[str]) -> "RealTexts":
        tables = []
        for path in sorted(paths):
            with FileSystems.open(path) as handle:
                tables.append(pq.read_table(handle, schema=REAL_TEXT))
        table = pa.concat_tables(tables) if tables else REAL_TEXT.empty_table()
        table = table.sort_by("id")
        if len(table) == 0:
            return cls(torch.zeros(0, 0, dtype=torch.int32), torch.zeros(0, dtype=torch.long),
                       torch.zeros(0, 0), table.select(["id", "text", "label"]))
        ids = _matrix(table.column("input_ids"), np.int32)
        targets = _matrix(table.column("target"), np.float32)
        lengths = table.column("length").to_numpy().astype(np.int64)  # astype copies
        return cls(torch.from_numpy(ids), torch.from_numpy(lengths), torch.from_numpy(targets),
                   table.select(["id", "text", "label"]))

    def inputs(self, table: "TokenEmbeddingTable",
               index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows `index` as (inputs_embeds (n, L, d), attention_mask (n, L), targets (n, t))."""
        ids = self.input_ids[index].long()
        return (table.embed(ids), length_mask(self.lengths[index], self.sequence_length),
                self.targets[index])

    def batch_sampler(self, table: "TokenEmbeddingTable",
                      batch: int) -> Callable[[torch.Generator], tuple]:
        """`sample(generator)` -> a real batch of `batch` texts drawn with replacement."""
        def sample(generator: torch.Generator) -> tuple:
            return self.inputs(table, torch.randint(len(self), (batch,), generator=generator))
        return sample


def _matrix(column: pa.ChunkedArray, dtype: type) -> np.ndarray:
    """A list column whose lists all have one length -> (N, width) array, without Python lists."""
    values = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.array(values, dtype=dtype).reshape(len(column), -1)  # a writable copy for torch
