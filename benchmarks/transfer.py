"""The transfer harness the quality benchmarks share: read a labelled `text,label` file, cache
sentence vectors, draw k-shot target examples, tokenise over the frozen table, and score a
pre-trained student on the target task by a linear probe and a full fine-tune.

The protocol is the same for every pre-training condition, so no condition is favoured by a
setting tuned for another: per seed, a validation split (`validation_per_class` examples of every
class) is carved from the target's training examples; in each regime (10 examples per class, or
every remaining training example) the fine-tuning rate and epoch count are chosen on that split
from a small grid, and only the chosen model is scored on the test split."""

import copy
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
from transforms.student.training import (
    Classifier,
    evaluate_accuracy,
    finetune_classifier,
    linear_probe,
)


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


def paired(values: dict[int, float], baseline: dict[int, float]) -> str:
    """Per-seed differences against a baseline, their mean, and how many are above zero."""
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        return "–"
    diffs = [values[s] - baseline[s] for s in seeds]
    wins = sum(d > 0 for d in diffs)
    return f"{statistics.mean(diffs):+.3f} ({wins}/{len(seeds)} seeds above)"


@dataclass(frozen=True)
class Regime:
    """How a pre-trained student is fine-tuned on the target: on `shots` examples per class
    (None: every training example not held out for validation), with the learning rate and the
    number of epochs chosen on the validation split from `lrs` x 1..`max_epochs`."""

    name: str
    shots: int | None
    lrs: tuple[float, ...]
    max_epochs: int
    batch_size: int


# Grids sized for 2 CPU cores: about 4.5 minutes per pre-trained student for both regimes.
REGIMES = {
    "10-shot": Regime("10-shot", 10, (3e-4, 1e-3, 3e-3), 40, 32),
    "full": Regime("full", None, (3e-4, 1e-3, 3e-3), 10, 64),
}


def carve_validation(labels: list[str], per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, the rest): `per_class` target-training rows of every class, drawn with
    `seed`, held out to choose fine-tuning settings; the test split is never looked at."""
    validation = sample_shots(labels, per_class, seed + 10_000)  # not the shots' draw
    rest = np.setdiff1d(np.arange(len(labels)), validation)
    return validation, rest


@dataclass(frozen=True)
class TargetTask:
    """One seed's target data: validation rows and, per regime, the fine-tuning rows."""

    validation: Encoded
    train: dict[str, Encoded]  # regime name -> examples
    rows: dict[str, np.ndarray]  # regime name -> their rows of the target training file
    test: Encoded
    n_classes: int

    @classmethod
    def of(cls, table: TokenEmbeddingTable, train: LabelledTexts, test: Encoded,
           regimes: list[Regime], validation_per_class: int, seed: int) -> "TargetTask":
        classes = sorted(set(train.labels))
        validation, rest = carve_validation(train.labels, validation_per_class, seed)

        def encoded(rows: np.ndarray) -> Encoded:
            return Encoded.of(table, [train.texts[i] for i in rows],
                              [train.labels[i] for i in rows], classes)

        rows = {regime.name: rest if regime.shots is None else rest[
                    sample_shots([train.labels[i] for i in rest], regime.shots, seed)]
                for regime in regimes}
        return cls(encoded(validation), {name: encoded(r) for name, r in rows.items()}, rows,
                   test, len(classes))


def finetune_selected(student: TextStudent, table: TokenEmbeddingTable, task: TargetTask,
                      test_embeds: torch.Tensor, regime: Regime, seed: int) -> dict:
    """Fine-tune a copy of `student` at every rate of the regime's grid, score the validation
    split after every epoch, and report test accuracy of the best (rate, epochs) only. The
    student itself is left unchanged."""
    train, validation = task.train[regime.name], task.validation
    train_embeds, val_embeds = table.embed(train.ids), table.embed(validation.ids)
    best: dict = {"val_acc": -1.0}
    curves, seconds = {}, 0.0
    for lr in regime.lrs:
        curve: list[float] = []

        def score(model: Classifier, epochs: int, lr: float = lr, curve: list = curve) -> None:
            accuracy = evaluate_accuracy(model, val_embeds, validation.mask, validation.labels)
            curve.append(round(accuracy, 4))
            if accuracy > best["val_acc"]:  # ties keep the fewer epochs and the lower rate
                best.update(val_acc=accuracy, lr=lr, epochs=epochs,
                            state=copy.deepcopy(model.state_dict()))

        _, stats = finetune_classifier(copy.deepcopy(student), train_embeds, train.mask,
                                       train.labels, task.n_classes, epochs=regime.max_epochs,
                                       batch_size=regime.batch_size, lr=lr, seed=seed,
                                       on_epoch_end=score)
        curves[str(lr)] = curve
        seconds += stats.seconds
        log(f"    {regime.name}: lr {lr:g}, {regime.max_epochs} epochs on "
            f"{len(train.labels):,} examples in {stats.seconds:.0f}s; best validation "
            f"{max(curve):.3f} at epoch {curve.index(max(curve)) + 1}")
    chosen = Classifier(copy.deepcopy(student), task.n_classes)
    chosen.load_state_dict(best.pop("state"))
    return {"finetune_acc": evaluate_accuracy(chosen, test_embeds, task.test.mask,
                                              task.test.labels),
            **best, "finetune_seconds": seconds, "val_curves": curves}


def evaluate_transfer(student: TextStudent, table: TokenEmbeddingTable, task: TargetTask,
                      regimes: list[Regime], seed: int) -> dict:
    """Per regime: a linear probe of the frozen student on the regime's examples, and the
    fine-tune chosen on validation; all scored on the whole test split."""
    test_embeds = table.embed(task.test.ids)
    scores = {}
    for regime in regimes:
        train = task.train[regime.name]
        probe, _ = linear_probe(student, table.embed(train.ids), train.mask, train.labels,
                                task.n_classes, seed=seed)
        probe_acc = evaluate_accuracy(probe, test_embeds, task.test.mask, task.test.labels)
        scores[regime.name] = {"probe_acc": probe_acc, "train_examples": len(train.labels),
                               **finetune_selected(student, table, task, test_embeds, regime,
                                                  seed)}
    return scores
