"""Beam wiring for embed: distinct texts -> reuse vectors already published -> encode the rest."""

from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.transforms.window import GlobalWindows

from transforms.embed.encoder import text_hash
from transforms.ingest.readers import Rejected, preview
from transforms.ingest.transform import dead_letter_row


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

    def batch_elements_kwargs(self):
        return self._encoder.batch_elements_kwargs()

    def get_metrics_namespace(self) -> str:
        return self._encoder.get_metrics_namespace()


class LengthSortedRunsFn(beam.DoFn):
    """Re-emits (key, text) pairs in runs of `window` sorted by text length, so the consecutive
    batches RunInference cuts are of similar length and carry little padding (the idea of Hugging
    Face's group_by_length). Beam's own length bucketing needs a streaming batch timeout."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._buffer: list = []

    def start_bundle(self) -> None:
        self._buffer = []

    def process(self, keyed_text):
        self._buffer.append(keyed_text)
        if len(self._buffer) >= self._window:
            yield from self._flush()

    def finish_bundle(self):
        for keyed_text in self._flush():
            yield GlobalWindows.windowed_value(keyed_text)

    def _flush(self) -> list:
        # Known vectors (not strings) sort first, as length 0: they need no encoding.
        run = sorted(self._buffer, key=lambda kv: len(kv[1]) if isinstance(kv[1], str) else 0)
        self._buffer = []
        return run


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
    pairs of the previous version for the same model (`vectors_of`), possibly empty.
    `length_sort_window` > 1 sorts runs of that many texts by length before batching. Output dict: `embeddings` (rows) and `empty`
    ((text_hash, text) pairs of texts that tokenise to nothing).
    """

    def __init__(self, handler: ModelHandler, model_identity: str,
                 previous: beam.PCollection, length_sort_window: int = 0) -> None:
        super().__init__(label="Embed texts")
        self._handler = handler
        self._length_sort_window = length_sort_window
        self._model_identity = model_identity
        self._previous = previous

    def expand(self, texts):
        keyed = texts | "Key texts by hash" >> beam.Map(lambda text: (text_hash(text), text))
        to_encode = (
            {"texts": keyed, "previous": self._previous}
            | "Join with previous vectors" >> beam.CoGroupByKey()
            | "Reuse or encode" >> beam.ParDo(_JoinWithPreviousFn())
        )
        handler = KeyedModelHandler(ReuseOrEncodeModelHandler(self._handler))
        if self._length_sort_window > 1:
            to_encode = to_encode | "Sort runs of texts by length" >> beam.ParDo(
                LengthSortedRunsFn(self._length_sort_window))
        encoded = (
            to_encode
            | "Encode new texts" >> RunInference(handler)
            | "To embedding rows" >> beam.ParDo(_ToEmbeddingRowFn()).with_outputs(
                _ToEmbeddingRowFn.EMPTY, main="rows")
        )
        model = self._model_identity
        embeddings = encoded.rows | "Name the model" >> beam.Map(
            lambda row: {"model": model, **row})
        return {"embeddings": embeddings, "empty": encoded[_ToEmbeddingRowFn.EMPTY]}



def later_stage_dead_letter(stage: str, dataset: str, version: str, field: str, reason: str,
                            detail: str, raw: str | None) -> dict:
    """A dead-letter row for a record that came from a published dataset, not a source file."""
    rejected = Rejected(f"{dataset}@{version}", None, reason, detail, field=field,
                        raw=None if raw is None else preview(raw))
    return dead_letter_row(stage, dataset, rejected)


def vectors_of(table: pa.Table):
    """(text_hash, float32 vector) pairs of an embeddings Arrow table, without going through
    Python lists of floats (12 KB a vector instead of 1.5 KB)."""
    hashes = table.column("text_hash").to_pylist()
    values = table.column("embedding").combine_chunks().flatten()
    matrix = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32)
    matrix = matrix.reshape(len(hashes), -1)  # (N, d): every vector of a model has d values
    for key, vector in zip(hashes, matrix):
        yield key, vector.copy()


@dataclass(frozen=True)
class RecordGroup:
    """Records that need vectors: a role (the output's name) and where they were read from."""

    role: str
    dataset: str
    version: str
    text_field: str = "text"


class _PairWithRecordsFn(beam.DoFn):
    """Streams (text_hash, vector) pairs past every record that needs them (a side input)."""

    MATCHED = "matched"

    def process(self, item, records):
        key, vector = item
        wanted = records.get(key, ())
        for role, record in wanted:
            yield beam.pvalue.TaggedOutput(role, (record, vector))
        if wanted:
            yield beam.pvalue.TaggedOutput(self.MATCHED, (key, None))


class _MissingVectorFn(beam.DoFn):
    def __init__(self, stage: str, groups: tuple[RecordGroup, ...]) -> None:
        self._stage = stage
        self._groups = {group.role: group for group in groups}

    def process(self, joined):
        _, grouped = joined
        if list(grouped["matched"]):
            return
        for role, record in grouped["records"]:
            group = self._groups[role]
            Metrics.counter(self._stage, f"{group.dataset}.missing_embedding").inc()
            yield later_stage_dead_letter(
                self._stage, group.dataset, group.version, group.text_field, "missing_embedding",
                "no vector: the text has no token the encoder knows, or was not embedded",
                record.get(group.text_field))
            yield beam.pvalue.TaggedOutput("missing", (role, record))


class AttachEmbeddings(beam.PTransform):
    """Pairs the records of every group with the vectors of their texts.

    A broadcast join: the records (without vectors) are the side input, keyed by text hash, and
    the vectors stream past them once, so no step ever holds the vectors; the local runner would
    hold every grouped vector of a CoGroupByKey in memory. `vectors` must be consumed by nothing
    else (a second consumer makes the local runner buffer it); read the embeddings again instead.

    Input: a dict role -> records. `vectors`: (text_hash, vector) pairs, e.g. `vectors_of` over
    the embeddings dataset. Output dict: role -> (record, vector) pairs, `dead_letters` for records
    whose text has no vector, and `missing`: those records as (role, record).
    """

    def __init__(self, vectors: beam.PCollection, groups: list[RecordGroup], stage: str) -> None:
        super().__init__(label="Attach vectors")
        self._vectors = vectors
        self._groups = tuple(groups)
        self._stage = stage

    def expand(self, records_by_role):
        keyed = [
            records_by_role[group.role] | f"Key {group.role} by text hash" >> beam.Map(
                lambda record, f=group.text_field, role=group.role: (
                    text_hash(record[f]), (role, record)))
            for group in self._groups
        ] | "All records by text hash" >> beam.Flatten()
        # A dict side input is read once per bundle; a multimap this large would be looked up
        # one key at a time through the runner's state API, several times slower.
        by_text = keyed | "Group records by text hash" >> beam.GroupByKey()
        paired = self._vectors | "Pair vectors with records" >> beam.ParDo(
            _PairWithRecordsFn(), beam.pvalue.AsDict(by_text)).with_outputs(
            _PairWithRecordsFn.MATCHED, *(g.role for g in self._groups))
        matched = (paired[_PairWithRecordsFn.MATCHED]
                   | "One match per text" >> beam.CombinePerKey(lambda _: None))
        missing = (
            {"records": keyed, "matched": matched}
            | "Join records with matches" >> beam.CoGroupByKey()
            | "Records without vector" >> beam.ParDo(
                _MissingVectorFn(self._stage, self._groups)).with_outputs("missing", main="dead"))
        return {**{g.role: paired[g.role] for g in self._groups},
                "dead_letters": missing.dead, "missing": missing.missing}
