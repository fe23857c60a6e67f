"""The Beam RunInference model handler for the sentence encoder."""

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.embed.encoder import EncoderSettings, SentenceEncoder
from transforms.progress import ProgressLog


class SentenceEncoderModelHandler(ModelHandler[str, PredictionResult, SentenceEncoder]):
    """Texts in, unit-length vectors out (None where a text has no real token).

    It runs on the batches `transforms.batching.RunOnContentBatches` makes from the data (their
    size is the embed stage's `batch_size`), so a text's batch does not depend on the runner's
    bundling. The model loads once
    per worker process, in `load_model`, never at pipeline construction.
    """

    def __init__(self, settings: EncoderSettings, expected_texts: int | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._expected_texts = expected_texts  # for progress: at most this many to encode

    def load_model(self) -> SentenceEncoder:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self._progress = ProgressLog("embed", "texts encoded", total=self._expected_texts,
                                     bound=True)
        return SentenceEncoder(self._settings)

    def run_inference(self, batch: Sequence[str], model: SentenceEncoder,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        vectors: list[np.ndarray | None] = model.encode(list(batch))
        self._progress.add(len(batch))
        return [PredictionResult(text, vector) for text, vector in zip(batch, vectors)]

    def get_metrics_namespace(self) -> str:
        return "embed"
