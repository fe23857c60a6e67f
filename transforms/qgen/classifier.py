"""The grade classifier QGen trains on (query, document, grade) triples: a cross-encoder
(query, document) -> grade, fine-tuned from a sequence encoder (default: the bundled MiniLM); it
judges whether a generated query is faithful to its grade. Free of Beam; versioned by this module
and what it imports.
"""

from dataclasses import dataclass

import torch

from transforms.embed.encoder import LOCAL_ONLY, EncoderUnavailable, resolve_encoder
from transforms.qgen.training import TrainSettings, Triple, final_loss, train_into, train_loop


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
              settings: TrainSettings) -> list[float]:
        torch.manual_seed(settings.seed)
        labels = torch.tensor([self.grades.index(g) for g in grades])
        def loss_of(indices: list[int]) -> torch.Tensor:
            batch = self._encode([queries[i] for i in indices], [documents[i] for i in indices],
                                 settings.pair_tokens)
            return self.model(**batch, labels=labels[indices].to(self.device)).loss

        return train_loop(self.model, loss_of, len(queries), settings, "classifier")

    @torch.inference_mode()
    def probabilities(self, queries: list[str], documents: list[str],
                      max_tokens: int) -> torch.Tensor:
        """(pairs, grades) probabilities, on the CPU."""
        logits = self.model(**self._encode(queries, documents, max_tokens)).logits
        return logits.float().softmax(-1).cpu()

    def predict(self, queries: list[str], documents: list[str],
                max_tokens: int) -> list[tuple[str, float]]:
        """(predicted grade, its probability) per pair."""
        probabilities = self.probabilities(queries, documents, max_tokens)
        best = probabilities.argmax(-1)
        return [(self.grades[int(i)], float(probabilities[row, i]))
                for row, i in enumerate(best)]


@dataclass(frozen=True)
class ClassifierTraining:
    base: str  # base encoder name
    grades: tuple[str, ...]
    settings: TrainSettings
    threads: int  # torch threads: the same seed gives the same weights only with the same count


def train_classifier(triples: list[Triple], training: ClassifierTraining, folder: str) -> dict:
    """Train (or reuse) the grade classifier in `folder`; returns its record (COMPLETE.json)."""
    def fit(triples: list[Triple]) -> tuple[GradeClassifier, dict]:
        settings = training.settings
        classifier = GradeClassifier.base(training.base, list(training.grades), settings.seed,
                                          settings.device)
        losses = classifier.train([t.query for t in triples], [t.document for t in triples],
                                  [t.grade for t in triples], settings)
        return classifier, {"base": training.base, "final_loss": final_loss(losses)}

    return train_into(folder, "classifier", triples, training.threads, fit)
