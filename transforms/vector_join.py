"""Pairing records of published datasets with their texts' vectors from the `embeddings`
dataset: a broadcast join whose memory is the slim records, never the vectors.

Used by every stage that reads vectors (prune, distill); the embed stage only writes them.
"""

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.dead_letters import later_stage_dead_letter
from transforms.text_keys import text_hash


def slim_document(record: dict) -> dict:
    """What pairing a document with its vector needs (the side the join holds in memory)."""
    return {"id": record["id"], "text": record["text"], "label": record["label"]}


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

    Input: a dict role -> records. `vectors`: (text_hash, vector) pairs, e.g. `ReadVectors` over
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

