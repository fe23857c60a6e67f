"""Beam wiring for embed: distinct texts -> reuse vectors already published -> encode the rest."""

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (
    ModelHandler,
    PredictionResult,
)

from transforms.batching import RunOnContentBatches, bucket_count
from transforms.publish.reading import ReadPublished, ReadVectors
from transforms.text_keys import text_hash


class _JoinWithPreviousFn(beam.DoFn):
    """One (key, text) to encode, or (key, vector) from the previous version, per distinct text.

    Both kinds stay in one PCollection on purpose: flattening a reused and an encoded branch back
    together makes the local runner hold every row in memory (measured: 200k rows, +1.3 GB).
    """

    def __init__(self) -> None:
        self._reused = Metrics.counter("embed", "texts_reused")
        self._new = Metrics.counter("embed", "texts_encoded")

    def process(self, joined):
        key, grouped = joined
        texts, previous = list(grouped["texts"]), list(grouped["previous"])
        # A vector for a text that no input has any more is not carried forward.
        if texts and previous:
            self._reused.inc()
            yield key, previous[0]
        elif texts:
            self._new.inc()
            yield key, texts[0]


class ReuseOrEncodeModelHandler(ModelHandler):
    """Wraps an encoder handler: texts are encoded, vectors already known pass through as they
    are, in the order they came. Lets reused and new vectors share one path through RunInference."""

    def __init__(self, encoder: ModelHandler) -> None:
        super().__init__()
        self._encoder = encoder

    def load_model(self):
        return self._encoder.load_model()

    def run_inference(self, batch, model, inference_args=None):
        texts = [item for item in batch if isinstance(item, str)]
        encoded = iter(self._encoder.run_inference(texts, model, inference_args) if texts else [])
        return [next(encoded) if isinstance(item, str) else PredictionResult(None, item)
                for item in batch]

    def get_metrics_namespace(self) -> str:
        return self._encoder.get_metrics_namespace()


class _ToEmbeddingRowFn(beam.DoFn):
    """A vector becomes an embeddings row; a text with no real token becomes a dead letter."""

    EMPTY = "empty"

    def process(self, keyed):
        key, result = keyed
        if result.inference is None:  # the encoder found no real token in the text
            yield beam.pvalue.TaggedOutput(self.EMPTY, (key, result.example))
        else:
            yield {"text_hash": key, "embedding": result.inference}


class EmbedTexts(beam.PTransform):
    """Vectors for every distinct text, encoding only texts the previous version lacks.

    Input: a PCollection of texts. `handler`: a model handler from text to vector (None for a
    text with no real token), e.g. `SentenceEncoderModelHandler`. `previous`: (text_hash, vector)
    pairs of the previous version for the same model (`ReadVectors`), possibly empty. Texts are
    encoded in `ContentBatches` of `batch_size` (sorted by length within `buckets` when
    `by_length`), so a text's vector does not depend on the bundling. Output dict: `embeddings`
    (rows) and `empty` ((text_hash, text) pairs of texts that tokenise to nothing).
    """

    def __init__(self, handler: ModelHandler, model_identity: str,
                 previous: beam.PCollection, batch_size: int, buckets: int,
                 by_length: bool = True) -> None:
        super().__init__(label="Embed texts")
        self._handler = handler
        self._model_identity = model_identity
        self._previous = previous
        self._batching = (batch_size, buckets, by_length)

    def expand(self, texts):
        keyed = texts | "Key texts by hash" >> beam.Map(lambda text: (text_hash(text), text))
        encoded = (
            {"texts": keyed, "previous": self._previous}
            | "Join with previous vectors" >> beam.CoGroupByKey()
            | "Reuse or encode" >> beam.ParDo(_JoinWithPreviousFn())
            | "Encode new texts" >> RunOnContentBatches(
                ReuseOrEncodeModelHandler(self._handler), *self._batching, label="Encode")
            | "To embedding rows" >> beam.ParDo(_ToEmbeddingRowFn()).with_outputs(
                _ToEmbeddingRowFn.EMPTY, main="rows")
        )
        model = self._model_identity
        embeddings = encoded.rows | "Name the model" >> beam.Map(
            lambda row: {"model": model, **row})
        return {"embeddings": embeddings, "empty": encoded[_ToEmbeddingRowFn.EMPTY]}


# The column holding the text to embed, per dataset kind.
TEXT_FIELD = {"document": "text", "judgement": "query"}


@dataclass(frozen=True)
class TextSource:
    """A published dataset whose texts are embedded: its data files and its kind."""

    dataset: str
    kind: str
    files: tuple[str, ...]
    rows: int


class EmbedDatasets(beam.PTransform):
    """Vectors for the distinct texts of published datasets, reusing `previous_files` (the
    previous embeddings version for the same model, possibly none).

    Applied to the pipeline. Output dict: `embeddings` (rows) and `drops` (("no_real_token", 1)
    per text that tokenises to nothing)."""

    def __init__(self, sources: list[TextSource], previous_files: list[str],
                 handler: ModelHandler, model_identity: str, batch_size: int,
                 batches_per_bucket: int) -> None:
        super().__init__(label="Embed published texts")
        self._sources = sources
        self._previous_files = previous_files
        self._handler = handler
        self._model_identity = model_identity
        self._batch_size = batch_size
        self._batches_per_bucket = batches_per_bucket

    def expand(self, pbegin):
        texts = [pbegin | ReadPublished(list(source.files), source.dataset)
                 | f"{source.dataset} texts" >> beam.Map(
                     lambda row, field=TEXT_FIELD[source.kind]: row[field])
                 for source in self._sources]
        previous = pbegin | ReadVectors(self._previous_files, "previous version")
        # Distinct texts are at most the rows read: enough to size the buckets.
        rows = sum(source.rows for source in self._sources)
        buckets = bucket_count(rows, self._batch_size, self._batches_per_bucket)
        embedded = (texts | "All texts" >> beam.Flatten()) | EmbedTexts(
            self._handler, self._model_identity, previous, self._batch_size, buckets,
            by_length=self._batches_per_bucket > 0)
        drops = embedded["empty"] | "Count texts without tokens" >> beam.Map(
            lambda _: ("no_real_token", 1))
        return {"embeddings": embedded["embeddings"], "drops": drops}
