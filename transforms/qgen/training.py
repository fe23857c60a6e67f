"""What both qgen models train from and how: (query, document, grade) triples, the seeded
sample that bounds them, the shared optimisation loop, and storing a trained model in its own
versioned folder. Free of Beam.

Each model (`generator.py`, `classifier.py`) is versioned by its own training code, settings and
data, so a change to one retrains only that one; a change here retrains both.
"""

import hashlib
import logging
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from transforms import model_store
from transforms.progress import StepProgress

LOG = logging.getLogger("transforms.qgen")


@dataclass(frozen=True)
class Triple:
    query: str
    document: str
    grade: str


def triple_priority(triple: Triple, seed: int) -> bytes:
    """A triple's place in the seeded sample that bounds training: a hash of the seed and its
    content, so the sample does not depend on the runner, the bundling or the arrival order."""
    text = "\0".join((str(seed), triple.document, triple.grade, triple.query))
    return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    seed: int
    device: str
    max_document_tokens: int
    max_query_tokens: int

    @property
    def pair_tokens(self) -> int:
        """Token limit of a (query, document) pair for the classifier."""
        return self.max_document_tokens + self.max_query_tokens


def train_loop(model: torch.nn.Module, loss_of: Callable[[list[int]], torch.Tensor],
               n_examples: int, settings: TrainSettings, what: str) -> list[float]:
    """AdamW with linear decay over `steps` random mini-batches (seeded); logs progress with ETA
    (loss: mean of the last 20 batches) every 10 s. `loss_of(indices)` computes a batch's loss."""
    rng = random.Random(settings.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 1.0 - step / max(settings.steps, 1))
    model.train()
    losses = []
    progress = StepProgress(f"qgen: {what}", settings.steps)
    for step in range(1, settings.steps + 1):
        loss = loss_of([rng.randrange(n_examples) for _ in range(settings.batch_size)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        progress.step(step, float(np.mean(losses[-20:])))
    model.eval()
    return losses



class SavedModel(Protocol):
    def save(self, folder: str) -> None: ...


def train_into(folder: str, what: str, triples: list[Triple], threads: int,
               fit: Callable[[list[Triple]], tuple[SavedModel, dict]]) -> dict:
    """Train a model with `fit` on `triples` (sorted first, so arrival order does not matter)
    with `threads` torch threads, and store it in `folder/<what>/`; a complete folder is
    reused."""
    if model_store.is_complete(folder):
        LOG.info("qgen: reusing the %s trained earlier in %s", what, folder)
        return model_store.read_complete(folder)
    if not triples:
        raise ValueError("qgen: no usable (query, document, grade) triple to train on; see the "
                         "dead-letter dataset for why judgements were rejected")
    triples = sorted(triples, key=lambda t: (t.document, t.grade, t.query))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, info = fit(triples)
    finally:
        torch.set_num_threads(previous)
    info = {"triples": len(triples), "torch": torch.__version__, "threads": threads, **info}
    with tempfile.TemporaryDirectory(prefix=f"refinery-qgen-{what}-") as local:
        model.save(f"{local}/{what}")
        model_store.upload(local, folder, info)
    return info


def final_loss(losses: list[float]) -> float:
    """The mean of the last 20 batch losses: what a trained model's record reports."""
    return sum(losses[-20:]) / len(losses[-20:])
