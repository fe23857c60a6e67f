"""The transfer harness the quality benchmarks share: read a labelled `text,label` file, cache
sentence vectors, draw k-shot target examples, tokenise over the frozen table, and score a
pre-trained student on the target task by a linear probe and a full fine-tune."""

import csv
import hashlib
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from transforms.embed.encoder import EncoderSettings, SentenceEncoder
from transforms.progress import eta
from transforms.student.model import TextStudent, TokenEmbeddingTable
from transforms.student.training import evaluate_accuracy, finetune_classifier, linear_probe


def log(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class LabelledTexts:
    path: Path
    texts: list[str]
    labels: list[str]


def read_labelled(path: Path) -> LabelledTexts:
    """CSV with a `text,label` header, or JSONL with those keys."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in handle if line.strip()]
        else:
            rows = list(csv.DictReader(handle))
    if not rows or not {"text", "label"} <= set(rows[0]):
        raise SystemExit(f"{path}: expected columns text,label (see --help)")
    return LabelledTexts(path, [str(r["text"]) for r in rows], [str(r["label"]) for r in rows])


class CachedEmbedder:
    """Sentence vectors per file, cached under the file's content hash; the encoder loads only
    when a cache misses, so reruns skip it entirely."""

    def __init__(self, cache_dir: Path, model: str, batch_size: int = 128) -> None:
        self._cache_dir = cache_dir
        self._model = model
        self._batch_size = batch_size
        self._encoder: SentenceEncoder | None = None

    def vectors(self, data: LabelledTexts) -> np.ndarray:
        digest = hashlib.sha256(data.path.read_bytes()).hexdigest()[:16]
        model_key = "".join(c if c.isalnum() else "_" for c in self._model)
        cache = self._cache_dir / f"{data.path.stem}-{digest}-{model_key}.npy"
        if cache.exists():
            log(f"embeddings of {data.path.name}: cached ({cache.name})")
            return np.load(cache)
        if self._encoder is None:
            self._encoder = SentenceEncoder(EncoderSettings(self._model, 128, "cpu"))
        chunks, start = [], time.perf_counter()
        for begin in range(0, len(data.texts), self._batch_size):
            batch = data.texts[begin:begin + self._batch_size]
            vectors = self._encoder.encode(batch)
            for row, vector in enumerate(vectors, start=begin):
                if vector is None:
                    raise SystemExit(f"{data.path}: row {row + 1} has no token to embed")
            chunks.append(np.stack(vectors))
            done, elapsed = begin + len(batch), time.perf_counter() - start
            if len(chunks) % 20 == 0 or done == len(data.texts):
                rate = done / elapsed
                log(f"  embedding {data.path.name}: {done:,}/{len(data.texts):,} "
                    f"({rate:.0f} texts/s, ETA {eta((len(data.texts) - done) / rate)})")
        matrix = np.concatenate(chunks).astype(np.float32)  # (N, d), unit rows
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, matrix)
        return matrix


def sample_shots(labels: list[str], shots: int, seed: int) -> np.ndarray:
    """`shots` rows per class (all of a smaller class), drawn with `seed`, in row order."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        by_class[label].append(row)
    picked = [rng.choice(rows, size=min(shots, len(rows)), replace=False)
              for _, rows in sorted(by_class.items())]
    return np.sort(np.concatenate(picked))


@dataclass(frozen=True)
class Encoded:
    """Token ids and masks of a text set plus integer labels; embedded on demand to save memory."""

    ids: torch.Tensor  # (N, L)
    mask: torch.Tensor  # (N, L)
    labels: torch.Tensor  # (N,)

    @classmethod
    def of(cls, table: TokenEmbeddingTable, texts: list[str], labels: list[str],
           classes: list[str]) -> "Encoded":
        index = {c: i for i, c in enumerate(classes)}
        ids, mask = table.tokenize(texts)
        return cls(ids, mask, torch.tensor([index[label] for label in labels]))


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def evaluate_transfer(student: TextStudent, table: TokenEmbeddingTable, shots: Encoded,
                      test: Encoded, n_target: int, finetune_epochs: int, seed: int) -> dict:
    """Probe the frozen student, then fine-tune it (in place) on the shots; test accuracies."""
    shot_embeds, test_embeds = table.embed(shots.ids), table.embed(test.ids)
    # Probe first: it leaves the student as pre-trained; fine-tuning then changes it in place.
    probe, _ = linear_probe(student, shot_embeds, shots.mask, shots.labels, n_target, seed=seed)
    probe_acc = evaluate_accuracy(probe, test_embeds, test.mask, test.labels)
    tuned, tune_stats = finetune_classifier(student, shot_embeds, shots.mask, shots.labels,
                                            n_target, epochs=finetune_epochs, seed=seed)
    return {"finetune_seconds": tune_stats.seconds,
            "finetune_acc": evaluate_accuracy(tuned, test_embeds, test.mask, test.labels),
            "probe_acc": probe_acc}
