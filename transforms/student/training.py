"""Train and evaluate the student as a classifier: pre-train on source classes, then fine-tune or
linearly probe on a target task. Free of Beam; deterministic for a seed on one machine.

Inputs are tensors, not texts: `inputs_embeds` (N, L, d_in), `attention_mask` (N, L) and integer
`labels` (N,), as `TokenEmbeddingTable.encode` makes them from texts (and as a distilled set of
synthetic sequences already is).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from transforms.student.model import TextStudent


@dataclass(frozen=True)
class TrainStats:
    epoch_losses: list[float]  # mean training loss per epoch (one entry for the probe)
    seconds: float
    examples: int


class Classifier(nn.Module):
    """A student with a linear head: (B, L, d_in), (B, L) -> logits (B, C)."""

    def __init__(self, student: TextStudent, n_classes: int) -> None:
        super().__init__()
        self.student = student
        self.head = nn.Linear(student.config.d_model, n_classes)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.student(inputs_embeds, attention_mask))


def _trim(inputs_embeds: torch.Tensor,
          attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing columns that are padding in every row: most texts are far shorter than
    max_len, and the features do not depend on padding, so this only saves time."""
    length = int(attention_mask.any(0).nonzero().max()) + 1
    return inputs_embeds[:, :length], attention_mask[:, :length]


def _length_grouped_batches(attention_mask: torch.Tensor, batch_size: int,
                            generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of texts of similar length, as Hugging Face's `group_by_length` makes
    them: shuffle, sort by length within windows of 50 batches, cut, shuffle the batches. A batch
    is padded to its longest text, and one long text in a random batch pads all of it: grouping
    roughly halves the compute on short-text data without giving up a random order."""
    lengths = attention_mask.sum(1)  # (N,)
    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    for window in order.split(50 * batch_size):
        batches += window[lengths[window].argsort(stable=True)].split(batch_size)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


EpochEnd = Callable[[int], None]  # called with the number of epochs done, model in train mode


def _fit(model: nn.Module, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
         labels: torch.Tensor, *, epochs: int, batch_size: int, lr: float, weight_decay: float,
         seed: int, loss_fn: Callable = F.cross_entropy,
         on_epoch_end: EpochEnd | None = None) -> TrainStats:
    """Mini-batch AdamW on `loss_fn(model(...), labels)` (cross-entropy unless told otherwise)
    at a constant rate; batches are drawn from `seed`. `on_epoch_end` may evaluate the model
    (early stopping, model selection); it must leave the model as it found it."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=lr, weight_decay=weight_decay)
    model.train()
    start = time.perf_counter()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for batch in _length_grouped_batches(attention_mask, batch_size, generator):
            embeds, mask = _trim(inputs_embeds[batch], attention_mask[batch])  # (b, l, d_in)
            loss = loss_fn(model(embeds, mask), labels[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(labels))
        if on_epoch_end is not None:
            on_epoch_end(len(losses))
            model.train()
    model.eval()
    return TrainStats(losses, time.perf_counter() - start, len(labels))


def pretrain_classifier(student: TextStudent, inputs_embeds: torch.Tensor,
                        attention_mask: torch.Tensor, labels: torch.Tensor, *, epochs: int,
                        batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01,
                        seed: int = 0) -> TrainStats:
    """Trains `student` in place on source-class cross-entropy through a throwaway linear head;
    labels are 0..C-1."""
    torch.manual_seed(seed)  # the head's init and dropout draw from the global generator
    model = Classifier(student, int(labels.max()) + 1)
    return _fit(model, inputs_embeds, attention_mask, labels, epochs=epochs,
                batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed)


def pretrain_regression(student: TextStudent, inputs_embeds: torch.Tensor,
                        attention_mask: torch.Tensor, targets: torch.Tensor, *, epochs: int,
                        batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01,
                        seed: int = 0) -> TrainStats:
    """Trains `student` in place to predict (N, t) teacher representations through a throwaway
    linear head, by MSE: how a distilled set (X_s, Y_s), or real texts with the teacher's
    vectors, pre-train a student without labels."""
    torch.manual_seed(seed)
    model = Classifier(student, targets.shape[1])  # a linear head; here onto the teacher space
    return _fit(model, inputs_embeds, attention_mask, targets, epochs=epochs,
                batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                loss_fn=F.mse_loss)


def finetune_classifier(student: TextStudent, inputs_embeds: torch.Tensor,
                        attention_mask: torch.Tensor, labels: torch.Tensor, n_classes: int, *,
                        epochs: int, batch_size: int = 32, lr: float = 2e-3,
                        weight_decay: float = 0.01, seed: int = 0,
                        on_epoch_end: Callable[[Classifier, int], None] | None = None,
                        ) -> tuple[Classifier, TrainStats]:
    """Full fine-tune of `student` (in place) with a new head on the target classes;
    `on_epoch_end(model, epochs_done)` sees the classifier after every epoch."""
    torch.manual_seed(seed)
    model = Classifier(student, n_classes)
    stats = _fit(model, inputs_embeds, attention_mask, labels, epochs=epochs,
                 batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                 on_epoch_end=None if on_epoch_end is None else (
                     lambda done: on_epoch_end(model, done)))
    return model, stats


@torch.no_grad()
def student_features(student: TextStudent, inputs_embeds: torch.Tensor,
                     attention_mask: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(N, L, d_in), (N, L) -> (N, d_model) in eval mode (no dropout)."""
    student.eval()
    chunks = [student(*_trim(inputs_embeds[i:i + batch_size], attention_mask[i:i + batch_size]))
              for i in range(0, len(inputs_embeds), batch_size)]
    return torch.cat(chunks)


def linear_probe(student: TextStudent, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                 labels: torch.Tensor, n_classes: int, *, l2: float = 1e-3, max_iter: int = 200,
                 seed: int = 0) -> tuple[Classifier, TrainStats]:
    """Multinomial logistic regression on the frozen student's standardised features.

    Standardising matters: mean-pooled features share a large common part and vary little between
    texts (an untrained student most of all), so an L2 penalty on raw features would swamp the
    signal. Full-batch L-BFGS: the problem is small and convex, so it converges without a
    learning-rate choice. The student is left unchanged.
    """
    start = time.perf_counter()
    features = student_features(student, inputs_embeds, attention_mask)  # (N, d_model)
    mean, std = features.mean(0), features.std(0).clamp(min=1e-6)  # (d_model,) each
    standardised = (features - mean) / std
    torch.manual_seed(seed)
    head = nn.Linear(student.config.d_model, n_classes)
    optimiser = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=max_iter,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(head(standardised), labels) + l2 * head.weight.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    model = Classifier(student, n_classes)
    with torch.no_grad():
        loss = float(F.cross_entropy(head(standardised), labels))  # after the fit, without L2
        # Fold the standardisation into the head so the classifier takes raw features.
        model.head.weight.copy_(head.weight / std)
        model.head.bias.copy_(head.bias - (head.weight / std) @ mean)
    return model, TrainStats([loss], time.perf_counter() - start, len(labels))


@torch.no_grad()
def evaluate_accuracy(model: Classifier, inputs_embeds: torch.Tensor,
                      attention_mask: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 256) -> float:
    """Share of examples whose arg-max logit is the label, in eval mode."""
    model.eval()
    correct = 0
    for i in range(0, len(labels), batch_size):
        embeds, mask = _trim(inputs_embeds[i:i + batch_size], attention_mask[i:i + batch_size])
        correct += int((model(embeds, mask).argmax(-1) == labels[i:i + batch_size]).sum())
    return correct / len(labels)
