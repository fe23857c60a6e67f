"""Beam steps of the distill stage: pair the corpus with its teacher vectors, tokenise it in
parallel and materialise it as Parquet shards; then one worker runs the KRR-ST optimisation over
the shards."""

import json
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dead_letters import reason_count
from transforms.distill.readout import loss_curve_png
from transforms.distill.real_texts import REAL_TEXT, RealTexts, tokenize_batch
from transforms.distill.synthetic_set import (
    DistillSettings,
    RealNeighbours,
    coreset_rows,
    distill,
    distilled_rows,
)
from transforms.progress import ProgressLog
from transforms.publish.reading import ReadPublished, ReadVectors
from transforms.publish.transform import ROW_GROUP_BYTES
from transforms.seeded_sample import SeededSample
from transforms.student.model import TokenEmbeddingTable
from transforms.vector_join import AttachEmbeddings, RecordGroup, VectorJoin, slim_document


class _TokenizeFn(beam.DoFn):
    """Batches of (record, teacher vector) -> REAL_TEXT rows."""

    def __init__(self, table_model: str, sequence_length: int, total: int | None) -> None:
        self._table_model = table_model
        self._sequence_length = sequence_length
        self._total = total

    def setup(self):
        from transformers import AutoTokenizer

        from transforms.embed.encoder import LOCAL_ONLY, resolve_encoder

        self._tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(self._table_model),
                                                        **LOCAL_ONLY)
        self._progress = ProgressLog("distill: tokenised", "texts", total=self._total)

    def process(self, pairs):
        texts = [record["text"] for record, _ in pairs]
        ids, lengths = tokenize_batch(self._tokenizer, texts, self._sequence_length)
        for (record, vector), row_ids, length in zip(pairs, ids, lengths):
            yield {"id": record["id"], "text": record["text"], "label": record.get("label"),
                   "input_ids": row_ids, "length": length, "target": vector.tolist()}
        self._progress.add(len(pairs))

    def teardown(self):
        self._progress.finish()


class MaterialiseRealTexts(beam.PTransform):
    """(record, teacher vector) pairs -> Parquet shards under `folder`; outputs their paths."""

    def __init__(self, table_model: str, sequence_length: int, batch_size: int,
                 folder: str, total: int | None = None) -> None:
        super().__init__(label="Materialise real texts")
        self._table_model = table_model
        self._sequence_length = sequence_length
        self._batch_size = batch_size
        self._folder = folder
        self._total = total  # texts expected, for progress

    def expand(self, pairs):
        return (
            pairs
            | "Batch texts to tokenise" >> beam.BatchElements(
                min_batch_size=self._batch_size, max_batch_size=self._batch_size)
            | "Tokenise" >> beam.ParDo(_TokenizeFn(self._table_model, self._sequence_length,
                                                  self._total))
            | "Write real text shards" >> beam.io.WriteToParquet(
                f"{self._folder.rstrip('/')}/real", REAL_TEXT, file_name_suffix=".parquet",
                codec="snappy", row_group_buffer_size=ROW_GROUP_BYTES)
        )


class DistillFn(beam.DoFn):
    """The single optimisation step: all shards in, the synthetic set, coreset and loss curve out.

    Runs on one worker (one element); a killed run resumes from the checkpoint folder."""

    CORESET = "coreset"
    ATTACHMENTS = "attachments"
    REPORTS = "reports"

    def __init__(self, settings: DistillSettings, table_model: str, sequence_length: int,
                 title: str) -> None:
        self._settings = settings
        self._table_model = table_model
        self._sequence_length = sequence_length
        self._title = title

    def process(self, _, shard_paths):
        real = RealTexts.load(list(shard_paths))
        Metrics.counter("distill", "real_texts").inc(len(real))
        table = TokenEmbeddingTable.load(self._table_model, self._sequence_length)
        result = distill(self._settings, real, table)
        nearest = RealNeighbours.of(result.distiller, result.real)
        yield from distilled_rows(result.distiller, result.real, table, nearest)
        for row in coreset_rows(result.real, nearest):
            yield beam.pvalue.TaggedOutput(self.CORESET, row)
        normalisation = result.normaliser.to_json()
        yield beam.pvalue.TaggedOutput(self.REPORTS, ("target_normalisation", normalisation))
        yield beam.pvalue.TaggedOutput(self.ATTACHMENTS, (
            "target_normalisation.json", json.dumps(normalisation).encode("utf-8")))
        losses = result.distiller.losses
        yield beam.pvalue.TaggedOutput(self.ATTACHMENTS, (
            "loss_curve.png", loss_curve_png(losses, self._title)))
        yield beam.pvalue.TaggedOutput(self.ATTACHMENTS, (
            "loss_curve.json", json.dumps({"step_losses": losses}).encode("utf-8")))


@dataclass(frozen=True)
class DistillInputs:
    """Where the real corpus and its teacher vectors are, and what the optimisation needs."""

    source: str
    source_version: str
    source_files: tuple[str, ...]  # the split to distil
    source_rows: int
    vector_files: tuple[str, ...]  # the embeddings dataset
    table_model: str  # the model whose input embeddings are the input space
    sequence_length: int
    tokenize_batch: int
    staging: str  # the distilled version's staging folder, for the real-text shards
    max_real_texts: int  # the bound on what the optimisation worker holds
    seed: int  # of the sample taken above the bound
    join: VectorJoin

    @property
    def real_texts(self) -> int:
        """How many texts the optimisation sees: all of them, or the seeded sample."""
        return min(self.source_rows, self.max_real_texts)


def _record_id(record: dict) -> str:
    return record["id"]


class DistillCorpus(beam.PTransform):
    """The whole distill stage on published data: source rows (at most `max_real_texts`, a
    seeded sample above that) joined with their teacher vectors, tokenised and materialised in
    parallel, then distilled on one worker.

    Applied to the pipeline. Output dict: `distilled` rows, `coreset` rows, `attachments`
    ((file name, bytes): the loss curve and the target normalisation), `reports` ((name, dict):
    the target normalisation), `dead_letters` with `dead_letter_reasons`.
    """

    def __init__(self, inputs: DistillInputs, settings: DistillSettings) -> None:
        super().__init__(label=f"Distill {inputs.source}")
        self._inputs = inputs
        self._settings = settings

    def expand(self, pbegin):
        i = self._inputs
        records = (pbegin | ReadPublished(list(i.source_files), i.source)
                   | "Slim records" >> beam.Map(slim_document))
        if i.source_rows > i.max_real_texts:
            records = records | SeededSample(i.max_real_texts, _record_id, i.seed,
                                             "Sample real texts")
        attached = {"real": records} | AttachEmbeddings(
            pbegin | ReadVectors(list(i.vector_files), "to pair"),
            [RecordGroup("real", i.source, i.source_version)], "distill", i.join)
        shards = attached["real"] | MaterialiseRealTexts(
            i.table_model, i.sequence_length, i.tokenize_batch, i.staging, i.real_texts)
        title = f"KRR-ST on {i.source}@{i.source_version}: m={self._settings.krr.m}"
        result = (pbegin
                  | "One optimisation" >> beam.Create([None])
                  | "Run KRR-ST" >> beam.ParDo(
                      DistillFn(self._settings, i.table_model, i.sequence_length, title),
                      beam.pvalue.AsList(shards)).with_outputs(
                      DistillFn.CORESET, DistillFn.ATTACHMENTS, DistillFn.REPORTS,
                      main="distilled"))
        dead = attached["dead_letters"]
        return {"distilled": result.distilled, "coreset": result[DistillFn.CORESET],
                "attachments": result[DistillFn.ATTACHMENTS],
                "reports": result[DistillFn.REPORTS], "dead_letters": dead,
                "dead_letter_reasons": dead | "Key dead letters by reason" >> beam.Map(
                    reason_count)}
