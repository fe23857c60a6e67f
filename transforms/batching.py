"""Batching for RunInference steps: inputs sorted by length, so a batch is padded to a similar
length, in batches made from the data alone, so no model output depends on the bundling. Used by
embed (texts) and qgen (generator inputs, classifier pairs)."""

import hashlib

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, RunInference


def _text_length(value) -> int:
    """A text's length; a (text, …) tuple's text's. Anything else (embed's known vectors, which
    need no encoding) sorts first, as length 0."""
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        value = value[0]
    return len(value) if isinstance(value, str) else 0



def bucket_count(expected_items: int, batch_size: int, batches_per_bucket: int) -> int:
    """How many buckets spread `expected_items` so a bucket holds about `batches_per_bucket`
    batches (at least one bucket)."""
    per_bucket = batch_size * max(batches_per_bucket, 1)
    return max(1, -(-expected_items // per_bucket))


def _bucket_of(key, buckets: int) -> int:
    digest = hashlib.sha256(repr(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def _batches_of(bucket, batch_size: int, by_length: bool):
    """A bucket's (key, value) pairs sorted by (text length, key) -> batches of `batch_size`."""
    _, pairs = bucket
    order = sorted(pairs, key=lambda kv: ((_text_length(kv[1]) if by_length else 0),
                                          repr(kv[0])))
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


class ContentBatches(beam.PTransform):
    """(key, value) pairs -> batches (lists of pairs) whose makeup depends only on the data, not
    on how the runner bundled it, so a model's output for an item (numerics included: padding
    changes the last bits) is the same on any runner and worker count.

    Pairs are spread over `buckets` by a hash of their key; each bucket is sorted by text length
    (when `by_length`; the idea of Hugging Face's group_by_length), then key, and cut into
    batches. One bucket is held in memory by one worker: size the buckets with `bucket_count`.
    Keys must be unique and have a stable `repr`.
    """

    def __init__(self, batch_size: int, buckets: int, by_length: bool = True) -> None:
        super().__init__(label="Batch by content")
        self._batch_size = batch_size
        self._buckets = buckets
        self._by_length = by_length

    def expand(self, pairs):
        buckets, batch_size, by_length = self._buckets, self._batch_size, self._by_length
        return (pairs
                | "Key by bucket" >> beam.Map(lambda kv: (_bucket_of(kv[0], buckets), kv))
                | "Group buckets" >> beam.GroupByKey()
                | "Sort and cut batches" >> beam.FlatMap(_batches_of, batch_size, by_length))


class WholeBatchModelHandler(ModelHandler):
    """Runs `inner` on batches formed upstream (`ContentBatches`): each element is one list of
    (key, example) pairs and one call of `inner`, and becomes a list of (key, PredictionResult)."""

    def __init__(self, inner: ModelHandler) -> None:
        super().__init__(min_batch_size=1, max_batch_size=1)
        self._inner = inner

    def load_model(self):
        return self._inner.load_model()

    def run_inference(self, batch, model, inference_args=None):
        results = []
        for pairs in batch:
            predictions = self._inner.run_inference([example for _, example in pairs], model,
                                                    inference_args)
            results.append([(key, prediction) for (key, _), prediction in zip(pairs, predictions)])
        return results

    def get_metrics_namespace(self) -> str:
        return self._inner.get_metrics_namespace()


class RunOnContentBatches(beam.PTransform):
    """(key, example) pairs -> (key, PredictionResult) pairs, through RunInference on
    `ContentBatches`: the same output for an item whatever the bundling."""

    def __init__(self, handler: ModelHandler, batch_size: int, buckets: int,
                 by_length: bool = True, label: str = "Run model") -> None:
        super().__init__(label=label)
        self._handler = handler
        self._batches = ContentBatches(batch_size, buckets, by_length)

    def expand(self, pairs):
        return (pairs
                | self._batches
                | "Run inference" >> RunInference(WholeBatchModelHandler(self._handler))
                | "One result per item" >> beam.FlatMap(lambda results: results))
