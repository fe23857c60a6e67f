"""EmbedTexts and AttachEmbeddings with a fake model handler: no weights needed."""

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.embed.transform import EmbedTexts
from transforms.publish.reading import vectors_of
from transforms.text_keys import text_hash
from transforms.vector_join import AttachEmbeddings, RecordGroup, VectorJoin


class FakeEncoderHandler(ModelHandler):
    """Vector = [length of the text, 1.0]; None for a blank text (no real token)."""

    def __init__(self):
        super().__init__(max_batch_size=2)

    def load_model(self):
        return FakeEncoderHandler  # any weak-referenceable object stands in for the model

    def run_inference(self, batch, model, inference_args=None):
        return [PredictionResult(text, None if not text.strip() else
                                 np.array([len(text), 1.0], dtype=np.float32)) for text in batch]


@pytest.mark.parametrize("buckets, by_length", [(1, False), (2, True)])
def test_only_texts_missing_from_the_previous_version_are_encoded(buckets, by_length):
    previous_rows = [(text_hash("kept"), np.array([9.0, 9.0], dtype=np.float32)),
                     (text_hash("gone"), np.array([7.0, 7.0], dtype=np.float32))]
    with TestPipeline(runner="FnApiRunner") as pipeline:
        previous = pipeline | "previous" >> beam.Create(previous_rows)
        texts = pipeline | "texts" >> beam.Create(["kept", "new text", "kept", "  ", "a", "bb"])
        result = texts | EmbedTexts(FakeEncoderHandler(), "fake", previous, batch_size=2,
                                    buckets=buckets, by_length=by_length)
        assert_that(result["embeddings"] | beam.Map(
                        lambda r: (r["model"], r["text_hash"], r["embedding"].tolist())),
                    equal_to([("fake", text_hash("kept"), [9.0, 9.0]),
                              ("fake", text_hash("new text"), [8.0, 1.0]),
                              ("fake", text_hash("a"), [1.0, 1.0]),
                              ("fake", text_hash("bb"), [2.0, 1.0])]), label="vectors")
        assert_that(result["empty"], equal_to([(text_hash("  "), "  ")]), label="empty")


@pytest.mark.parametrize("join", [VectorJoin(4, 4), VectorJoin(4, 3)],
                         ids=["broadcast", "shuffle"])
def test_records_pair_with_their_vector_or_go_to_dead_letter(join):
    records = [{"id": "1", "text": "alpha"}, {"id": "2", "text": "alpha"}, {"id": "3", "text": "b"}]
    table = pa.table({"text_hash": [text_hash("alpha"), text_hash("q")],
                      "embedding": [[1.0, 0.0], [0.5, 0.5]]})
    with TestPipeline(runner="FnApiRunner") as pipeline:
        vectors = pipeline | "vectors" >> beam.Create([table]) | beam.FlatMap(vectors_of)
        attached = {
            "docs": pipeline | "records" >> beam.Create(records),
            "queries": pipeline | "queries" >> beam.Create([{"query": "q"}]),
        } | AttachEmbeddings(vectors, [RecordGroup("docs", "docs", "v1"),
                                       RecordGroup("queries", "judgements", "v2", "query")],
                             "prune", join)
        assert_that(attached["docs"] | "docs pairs" >> beam.Map(
                        lambda p: (p[0]["id"], p[1].tolist())),
                    equal_to([("1", [1.0, 0.0]), ("2", [1.0, 0.0])]), label="docs")
        assert_that(attached["queries"] | "query pairs" >> beam.Map(lambda p: p[1].tolist()),
                    equal_to([[0.5, 0.5]]), label="queries")
        assert_that(attached["dead_letters"] | beam.Map(
                        lambda d: (d["reason"], d["source"], d["file"], d["raw"])),
                    equal_to([("missing_embedding", "docs", "docs@v1", "b")]), label="dead")
        assert_that(attached["missing"] | "missing ids" >> beam.MapTuple(
                        lambda role, record: (role, record["id"])),
                    equal_to([("docs", "3")]), label="missing")
        assert_that(attached["matched"], equal_to([(text_hash("alpha"), None),
                                                   (text_hash("q"), None)]), label="matched")
