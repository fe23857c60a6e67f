"""Train (or reuse) the generator and the grade classifier from (query, document, grade)
triples, into a model folder. Free of Beam."""

import hashlib
import logging
import tempfile
from dataclasses import dataclass

import torch

from transforms import model_store
from transforms.qgen.grades import generator_input
from transforms.qgen.models import Generator, GradeClassifier, TrainSettings

LOG = logging.getLogger("transforms.qgen")


@dataclass(frozen=True)
class Triple:
    query: str
    document: str
    grade: str


@dataclass(frozen=True)
class QgenTrainingSettings:
    generator: str  # base model name
    classifier: str
    grades: tuple[str, ...]
    conditioned: bool
    generator_settings: TrainSettings
    classifier_settings: TrainSettings
    # torch threads while training: CPU kernels split work by thread count, so the same seed gives
    # the same weights only with the same count (measured: 1 and 2 threads differ).
    threads: int


def triple_priority(triple: Triple, seed: int) -> bytes:
    """A triple's place in the seeded sample that bounds training: a hash of the seed and its
    content, so the sample does not depend on the runner, the bundling or the arrival order."""
    text = "\0".join((str(seed), triple.document, triple.grade, triple.query))
    return hashlib.sha256(text.encode("utf-8")).digest()


def train_models(triples: list[Triple], training: QgenTrainingSettings, folder: str) -> dict:
    """Train both models on `triples` (sorted first, so arrival order does not matter) and store
    them in `folder`; a folder that is already complete is reused as it is."""
    if model_store.is_complete(folder):
        LOG.info("qgen: reusing the models trained earlier in %s", folder)
        return model_store.read_complete(folder)
    if not triples:
        raise ValueError("qgen: no usable (query, document, grade) triple to train on; see the "
                         "dead-letter dataset for why judgements were rejected")
    triples = sorted(triples, key=lambda t: (t.document, t.grade, t.query))
    threads = torch.get_num_threads()
    torch.set_num_threads(training.threads)
    try:
        generator, classifier, info = _train_both(triples, training)
    finally:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="refinery-qgen-") as local:
        generator.save(f"{local}/generator")
        classifier.save(f"{local}/classifier")
        model_store.upload(local, folder, info)
    return info


def _train_both(triples: list[Triple],
                training: QgenTrainingSettings) -> tuple[Generator, GradeClassifier, dict]:
    device = training.generator_settings.device
    generator = Generator.base(training.generator, training.generator_settings.seed, device)
    sources = [generator_input(t.document, t.grade if training.conditioned else None)
               for t in triples]
    generator_losses = generator.train(sources, [t.query for t in triples],
                                       training.generator_settings)
    classifier = GradeClassifier.base(training.classifier, list(training.grades),
                                      training.classifier_settings.seed, device)
    classifier_losses = classifier.train([t.query for t in triples],
                                         [t.document for t in triples],
                                         [t.grade for t in triples], training.classifier_settings)
    return generator, classifier, {
            "triples": len(triples), "generator_base": training.generator,
            "classifier_base": training.classifier, "torch": torch.__version__,
            "threads": training.threads,
            "generator_final_loss": sum(generator_losses[-20:]) / len(generator_losses[-20:]),
            "classifier_final_loss": sum(classifier_losses[-20:]) / len(classifier_losses[-20:])}
