"""Pairing records of published datasets with their texts' vectors from the `embeddings`
dataset: a broadcast join while the records are few enough for every worker to hold, a shuffle
join above that bound (the way Spark's broadcast-join threshold works).

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
class VectorJoin:
    """Which join pairs `records` rows with their vectors, decided before the run from the row
    counts in the inputs' manifests. Both joins give the same pairs; only memory and speed differ.

    Broadcast: the slim records are a side input every worker process holds (about 2.7 KB per
    record with 70-character texts, measured) and the vectors stream past once; on the local
    runners this is the only join that does not hold every vector in memory. Shuffle: a
    CoGroupByKey, which Dataflow spills to its shuffle service, so no worker's memory grows with
    the records.
    """

    records: int
    broadcast_max_rows: int

    @property
    def broadcast(self) -> bool:
        return self.records <= self.broadcast_max_rows

    def manifest(self) -> dict[str, object]:
        """What the manifest's `execution` section records about the join."""
        return {"vector_join": "broadcast" if self.broadcast else "shuffle",
                "vector_join_records": self.records,
                "broadcast_join_max_rows": self.broadcast_max_rows}


@dataclass(frozen=True)
class RecordGroup:
    """Records that need vectors: a role (the output's name) and where they were read from."""

    role: str
    dataset: str
    version: str
    text_field: str = "text"


MATCHED = "matched"
MISSING = "missing"


class _PairWithRecordsFn(beam.DoFn):
    """Streams (text_hash, vector) pairs past every record that needs them (a side input)."""

    def process(self, item, records):
        key, vector = item
        wanted = records.get(key, ())
        for role, record in wanted:
            yield beam.pvalue.TaggedOutput(role, (record, vector))
        if wanted:
            yield beam.pvalue.TaggedOutput(MATCHED, (key, None))


def _missing_vector(stage: str, group: RecordGroup, role: str, record: dict):
    """A dead letter for a record whose text has no vector, and the record as `missing`."""
    Metrics.counter(stage, f"{group.dataset}.missing_embedding").inc()
    yield later_stage_dead_letter(
        stage, group.dataset, group.version, group.text_field, "missing_embedding",
        "no vector: the text has no token the encoder knows, or was not embedded",
        record.get(group.text_field))
    yield beam.pvalue.TaggedOutput(MISSING, (role, record))


class _MissingVectorFn(beam.DoFn):
    def __init__(self, stage: str, groups: tuple[RecordGroup, ...]) -> None:
        self._stage = stage
        self._groups = {group.role: group for group in groups}

    def process(self, joined):
        _, grouped = joined
        if list(grouped["matched"]):
            return
        for role, record in grouped["records"]:
            yield from _missing_vector(self._stage, self._groups[role], role, record)


class _PairGroupedFn(beam.DoFn):
    """The shuffle join's pairing: one text hash's records and its vector (if any), grouped."""

    def __init__(self, stage: str, groups: tuple[RecordGroup, ...]) -> None:
        self._stage = stage
        self._groups = {group.role: group for group in groups}

    def process(self, joined):
        key, grouped = joined
        vector = next(iter(grouped["vectors"]), None)
        records = grouped["records"]
        if vector is None:
            for role, record in records:
                yield from _missing_vector(self._stage, self._groups[role], role, record)
            return
        matched = False
        for role, record in records:
            matched = True
            yield beam.pvalue.TaggedOutput(role, (record, vector))
        if matched:
            yield beam.pvalue.TaggedOutput(MATCHED, (key, None))


class AttachEmbeddings(beam.PTransform):
    """Pairs the records of every group with the vectors of their texts, by the `join` chosen
    from their row count (see VectorJoin). `vectors` must be consumed by nothing else (a second
    consumer makes the local runner buffer it); read the embeddings again instead.

    Input: a dict role -> records. `vectors`: (text_hash, vector) pairs, e.g. `ReadVectors` over
    the embeddings dataset. Output dict: role -> (record, vector) pairs, `dead_letters` for records
    whose text has no vector, `missing`: those records as (role, record), and `matched`:
    (text_hash, None) once per text that has both a vector and a record.
    """

    def __init__(self, vectors: beam.PCollection, groups: list[RecordGroup], stage: str,
                 join: VectorJoin) -> None:
        super().__init__(label="Attach vectors")
        self._vectors = vectors
        self._groups = tuple(groups)
        self._stage = stage
        self._join = join

    def expand(self, records_by_role):
        keyed = [
            records_by_role[group.role] | f"Key {group.role} by text hash" >> beam.Map(
                lambda record, f=group.text_field, role=group.role: (
                    text_hash(record[f]), (role, record)))
            for group in self._groups
        ] | "All records by text hash" >> beam.Flatten()
        roles = [g.role for g in self._groups]
        if not self._join.broadcast:
            paired = (
                {"records": keyed, "vectors": self._vectors}
                | "Shuffle records with vectors" >> beam.CoGroupByKey()
                | "Pair grouped vectors" >> beam.ParDo(
                    _PairGroupedFn(self._stage, self._groups)).with_outputs(
                    MATCHED, MISSING, *roles, main="dead"))
            return {**{role: paired[role] for role in roles}, "dead_letters": paired.dead,
                    "missing": paired[MISSING], "matched": paired[MATCHED]}
        # A dict side input is read once per bundle; a multimap this large would be looked up
        # one key at a time through the runner's state API, several times slower.
        by_text = keyed | "Group records by text hash" >> beam.GroupByKey()
        paired = self._vectors | "Pair vectors with records" >> beam.ParDo(
            _PairWithRecordsFn(), beam.pvalue.AsDict(by_text)).with_outputs(MATCHED, *roles)
        matched = (paired[MATCHED]
                   | "One match per text" >> beam.CombinePerKey(lambda _: None))
        missing = (
            {"records": keyed, "matched": matched}
            | "Join records with matches" >> beam.CoGroupByKey()
            | "Records without vector" >> beam.ParDo(
                _MissingVectorFn(self._stage, self._groups)).with_outputs(MISSING, main="dead"))
        return {**{role: paired[role] for role in roles}, "dead_letters": missing.dead,
                "missing": missing[MISSING], "matched": matched}
