"""The grade classifier QGen trains on (query, document, grade) triples: a cross-encoder
(query, document) -> grade, fine-tuned from a sequence encoder (default: the bundled MiniLM); it
judges whether a generated query is faithful to its grade. Free of Beam; versioned by this module
and what it imports.
"""

import random
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from transforms.embed.encoder import LOCAL_ONLY, EncoderUnavailable, resolve_encoder
from transforms.qgen.training import (
    TrainSettings,
    Triple,
    final_loss,
    train_into,
    train_loop,
    triple_priority,
)

# How the classifier sees grades that are rare in the judgements (Home Depot: 7% Irrelevant).
# "sampled": batches drawn with every grade equally likely (the default: best macro-F1 and
# Irrelevant recall on Home Depot, BENCHMARKS.md); "weighted": cross-entropy weighted by inverse
# grade frequency; "none": as the judgements come.
BALANCES = ("sampled", "weighted", "none")
# The thresholds a grade's probability is counted at on the calibration slice, to choose its
# default there (0.01 apart, so the choice does not hinge on one pair's probability); 0 counts
# every pair.
THRESHOLD_GRID = tuple(round(0.01 * step, 2) for step in range(100))


class GradeClassifier:
    """A cross-encoder over (query, document) pairs with one output per grade."""

    def __init__(self, model, tokenizer, grades: list[str], device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.grades = grades
        self.device = device

    @classmethod
    def base(cls, name: str, grades: list[str], seed: int,
             device: str = "cpu") -> "GradeClassifier":
        """A new grade head on a sequence encoder (offline); the head starts from `seed`."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.manual_seed(seed)
        location = resolve_encoder(name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
            model = AutoModelForSequenceClassification.from_pretrained(
                location, num_labels=len(grades), **LOCAL_ONLY,
                id2label=dict(enumerate(grades)), label2id={g: i for i, g in enumerate(grades)})
        except (OSError, ValueError) as error:
            raise EncoderUnavailable(f"classifier {name!r} cannot be loaded offline: "
                                     f"{error}") from None
        return cls(model, tokenizer, grades, device)

    @classmethod
    def load(cls, folder: str, device: str = "cpu") -> "GradeClassifier":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(folder, **LOCAL_ONLY)
        grades = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return cls(model, AutoTokenizer.from_pretrained(folder, **LOCAL_ONLY), grades,
                   device)

    def save(self, folder: str) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _encode(self, queries: list[str], documents: list[str], max_tokens: int):
        return self.tokenizer(queries, documents, padding=True, truncation="only_second",
                              max_length=max_tokens, return_tensors="pt").to(self.device)

    def train(self, queries: list[str], documents: list[str], grades: list[str],
              settings: TrainSettings, balance: str = "none") -> list[float]:
        torch.manual_seed(settings.seed)
        labels = torch.tensor([self.grades.index(g) for g in grades])
        weight = (grade_weights(grades, self.grades) if balance == "weighted" else None)
        order = (balanced_order(grades, settings.seed) if balance == "sampled"
                 else list(range(len(grades))))

        def loss_of(draws: list[int]) -> torch.Tensor:
            indices = [order[d] for d in draws]
            batch = self._encode([queries[i] for i in indices], [documents[i] for i in indices],
                                 settings.pair_tokens)
            logits = self.model(**batch).logits
            return torch.nn.functional.cross_entropy(
                logits, labels[indices].to(self.device),
                weight=None if weight is None else weight.to(self.device))

        return train_loop(self.model, loss_of, len(order), settings, "classifier")

    @torch.inference_mode()
    def probabilities(self, queries: list[str], documents: list[str], max_tokens: int,
                      batch_size: int = 64) -> np.ndarray:
        """(pairs, grades) probabilities, `batch_size` pairs per forward pass."""
        parts = [np.zeros((0, len(self.grades)), dtype=np.float32)]
        for begin in range(0, len(queries), batch_size):
            batch = self._encode(queries[begin:begin + batch_size],
                                 documents[begin:begin + batch_size], max_tokens)
            parts.append(self.model(**batch).logits.float().softmax(-1).cpu().numpy())
        return np.concatenate(parts)


def grade_weights(grades: list[str], names: list[str]) -> torch.Tensor:
    """Cross-entropy weights per grade: inverse frequency, mean 1 over the examples (a grade
    with no example gets weight 0: it contributes no loss anyway)."""
    counts = Counter(grades)
    return torch.tensor([len(grades) / (len(counts) * counts[name]) if counts[name] else 0.0
                         for name in names], dtype=torch.float32)


def balanced_order(grades: list[str], seed: int) -> list[int]:
    """Example indices in which every grade present appears equally often (the rarer grades'
    examples repeated, in a seeded order), so uniform draws from it are grade-balanced."""
    by_grade: dict[str, list[int]] = {}
    for index, grade in enumerate(grades):
        by_grade.setdefault(grade, []).append(index)
    most = max(len(indices) for indices in by_grade.values())
    rng = random.Random(seed)
    order = []
    for grade in sorted(by_grade):
        indices = list(by_grade[grade])
        rng.shuffle(indices)
        order += [indices[i % len(indices)] for i in range(most)]
    return order


def calibration_split(triples: list[Triple], fraction: float,
                      seed: int) -> tuple[list[Triple], list[Triple]]:
    """(training, calibration): the triples whose seeded hash falls in the lowest `fraction`
    are held out, the same ones on any runner."""
    cut = int(fraction * 2**64)
    train, held_out = [], []
    for triple in triples:
        rank = int.from_bytes(triple_priority(triple, seed + 1)[:8], "big")
        (held_out if rank < cut else train).append(triple)
    return train, held_out


def threshold_curves(probabilities: np.ndarray, intended: list[str], grades: list[str]) -> dict:
    """{"grid": THRESHOLD_GRID, "counts": {grade: {labelled grade: [pairs at or above each
    grid value]}}}: how many labelled pairs have a probability of each grade at or above each
    threshold. Enough to choose a threshold by any rule later (qgen_filter does), without
    keeping the pairs."""
    truth = np.array([grades.index(g) for g in intended], dtype=np.int64)
    grid = np.array(THRESHOLD_GRID)
    counts = {grade: {labelled: [int(n) for n in
                                 (probabilities[truth == j, i][:, None] >= grid).sum(0)]
                      for j, labelled in enumerate(grades)}
              for i, grade in enumerate(grades)}
    return {"grid": list(THRESHOLD_GRID), "counts": counts}


def grade_report(intended: list[str], predicted: list[str], grades: list[str]) -> dict:
    """Per-grade recall and precision, macro-F1 and accuracy of predictions on labelled pairs."""
    recall, precision, f1 = {}, {}, []
    for grade in grades:
        hits = sum(i == p == grade for i, p in zip(intended, predicted, strict=True))
        support, said = intended.count(grade), predicted.count(grade)
        recall[grade] = hits / support if support else None
        precision[grade] = hits / said if said else None
        r, p = recall[grade] or 0.0, precision[grade] or 0.0
        if support:
            f1.append(2 * r * p / (r + p) if r + p else 0.0)
    correct = sum(i == p for i, p in zip(intended, predicted, strict=True))
    return {"pairs": len(intended), "support": {g: intended.count(g) for g in grades},
            "recall": recall, "precision": precision,
            "macro_f1": sum(f1) / len(f1) if f1 else None,
            "accuracy": correct / len(intended) if intended else None}


@dataclass(frozen=True)
class ClassifierTraining:
    base: str  # base encoder name
    grades: tuple[str, ...]
    settings: TrainSettings
    threads: int  # torch threads: the same seed gives the same weights only with the same count
    balance: str = "sampled"  # one of BALANCES
    calibration_fraction: float = 0.1  # judgements held out to report the classifier's recall


def train_classifier(triples: list[Triple], training: ClassifierTraining, folder: str) -> dict:
    """Train (or reuse) the grade classifier in `folder` on all but a held-out calibration slice
    of the triples; returns its record (COMPLETE.json), with its grade report on that slice."""
    def fit(triples: list[Triple]) -> tuple[GradeClassifier, dict]:
        settings = training.settings
        train, held_out = calibration_split(triples, training.calibration_fraction,
                                            settings.seed)
        if not train:
            raise ValueError("qgen: the calibration slice took every training judgement; "
                             "lower calibration_fraction or add judgements")
        classifier = GradeClassifier.base(training.base, list(training.grades), settings.seed,
                                          settings.device)
        losses = classifier.train([t.query for t in train], [t.document for t in train],
                                  [t.grade for t in train], settings, training.balance)
        grades = list(training.grades)
        intended = [t.grade for t in held_out]
        probabilities = classifier.probabilities([t.query for t in held_out],
                                                 [t.document for t in held_out],
                                                 settings.pair_tokens)
        predicted = [grades[i] for i in probabilities.argmax(1)]
        return classifier, {"base": training.base, "final_loss": final_loss(losses),
                            "balance": training.balance,
                            "calibration": grade_report(intended, predicted, grades)
                            | {"threshold_curves": threshold_curves(probabilities, intended,
                                                                    grades)}}

    return train_into(folder, "classifier", triples, training.threads, fit)
