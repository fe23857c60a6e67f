"""Beam wiring for prune: surrogate from the source, votes from the target, keep the top K.

    source (record, vector) ─► surrogate (class means | softmax regression | k-means centroids)
    target (record, vector) ─► batched votes under the surrogate ─► merged tally ─► ranking, K
    source rows, read again ─► class (label | cluster of its text's vector) ─► kept if in the top K

The last step reads the rows (and, for clusters, the vectors) again instead of reusing the pairs:
a step that waits for the ranking would make the local runner hold every pair until then.
"""

from dataclasses import asdict, dataclass

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsSingleton, TaggedOutput

from transforms.dead_letters import later_stage_dead_letter, reason_count
from transforms.prune.chart import votes_chart_png
from transforms.prune.fixed_point import from_fixed, to_fixed
from transforms.prune.label_mapping import (
    VoteTally,
    commonest_domain,
    rank_classes,
    retained_count,
)
from transforms.prune.surrogates import (
    CentroidSurrogate,
    LinearSurrogate,
    cluster_names,
    spherical_kmeans,
)
from transforms.publish.reading import ReadPublished, ReadVectors
from transforms.row_accounting import CheckRowBalances, RowBalance
from transforms.seeded_sample import sample_priority
from transforms.text_keys import text_hash
from transforms.vector_join import AttachEmbeddings, RecordGroup, VectorJoin, slim_document

DEAD_LETTER = "dead_letter"

# Functions handed to beam.Map/ParDo below carry no dataclass type hints on purpose: Beam turns
# annotations into schemas at construction time and fails on fields such as Counter.


@dataclass(frozen=True)
class PruneSettings:
    mode: str  # "label" or "feature"
    surrogate: str  # "centroid" or "linear"
    retain_classes: int | None
    prune_ratio: float | None
    clusters: int
    reservoir_size: int
    linear_sample_per_class: int
    seed: int
    source: str
    source_version: str
    target: str
    target_version: str
    target_labels: tuple[str, ...] | None


class MeanVectorFn(beam.CombineFn):
    """Mean of vectors, combined in parallel: only (sum, count) crosses the shuffle. The sum is in
    fixed point, so the mean has the same bits however the runner split and ordered it."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, accumulator, vector):
        total, count = accumulator
        fixed = to_fixed(vector)
        return (fixed if total is None else total + fixed), count + 1

    def merge_accumulators(self, accumulators):
        total, count = None, 0
        for part, n in accumulators:
            if part is not None:
                total = part.copy() if total is None else total + part
            count += n
        return total, count

    def extract_output(self, accumulator):
        total, count = accumulator
        return from_fixed(total) / count


class MergeTalliesFn(beam.CombineFn):
    def create_accumulator(self):
        return None

    def add_input(self, accumulator, tally):
        return tally if accumulator is None else accumulator.merge(tally)

    def merge_accumulators(self, accumulators):
        merged = None
        for tally in accumulators:
            if tally is not None:
                merged = tally if merged is None else merged.merge(tally)
        return merged

    def extract_output(self, accumulator):
        return accumulator


def _tally(batch, surrogate):
    """Votes (a VoteTally) of a batch of (target record, vector) pairs."""
    tally = VoteTally(surrogate.classes)
    for record, vector in batch:
        # one row at a time: a matrix product's last bits can depend on how many rows it has,
        # and the runner decides the batch sizes
        tally.add(surrogate.probabilities(vector[None])[0], record.get("label"))  # (C,)
    return tally


def _kept_cluster_hashes(item, surrogate, kept):
    """(text_hash, vector) -> (text_hash, None) if the vector's nearest cluster is kept."""
    key, vector = item
    if surrogate.classes[int(np.argmax(surrogate.centroids @ vector))] in kept:
        yield key, None


def _priority(item) -> str:
    return item[0]


def _prioritised(pair, seed: int):
    record, vector = pair
    return sample_priority(seed, record["text"]), vector


def _fit_linear(samples, seed):
    """samples: label -> [(priority, vector)], the lowest priorities per class."""
    labels, vectors = [], []
    for label in sorted(samples):
        for _, vector in sorted(samples[label], key=lambda item: item[0]):
            labels.append(label)
            vectors.append(vector)
    return LinearSurrogate.fit(np.stack(vectors), labels, seed=seed)


def _fit_kmeans(sample, clusters, seed):
    vectors = np.stack([vector for _, vector in sorted(sample, key=lambda item: item[0])])
    return CentroidSurrogate(cluster_names(clusters), spherical_kmeans(vectors, clusters, seed=seed))


class _RequireLabelFn(beam.DoFn):
    def __init__(self, settings: PruneSettings) -> None:
        self._settings = settings

    def process(self, pair):
        record, _ = pair
        if record.get("label") is not None:
            yield pair
        else:
            Metrics.counter("prune", f"{self._settings.source}.missing_label").inc()
            yield TaggedOutput(DEAD_LETTER, later_stage_dead_letter(
                "prune", self._settings.source, self._settings.source_version, "label",
                "missing_label", "label mapping needs a label on every source record",
                record.get("text")))


class _AllowedTargetLabelFn(beam.DoFn):
    def __init__(self, settings: PruneSettings) -> None:
        self._settings = settings
        self._allowed = set(settings.target_labels or ())

    def process(self, pair):
        record, _ = pair
        if self._settings.target_labels is None or record.get("label") in self._allowed:
            yield pair
        else:
            Metrics.counter("prune", f"{self._settings.target}.unknown_target_label").inc()
            yield TaggedOutput(DEAD_LETTER, later_stage_dead_letter(
                "prune", self._settings.target, self._settings.target_version, "label",
                "unknown_target_label",
                f"label {record.get('label')!r} is not in target_labels", record.get("text")))


class _KeepRowFn(beam.DoFn):
    """Keeps a source row whose class is kept; counts the others. Rows without a vector (and,
    in label mode, without a label) are already dead letters of PruneSource: neither."""

    PRUNED = "pruned"

    def __init__(self, mode: str) -> None:
        self._mode = mode

    def process(self, row, kept, missing, kept_hashes):
        if row["id"] in missing:
            return
        if self._mode == "label":
            if row.get("label") is None:
                return
            keep = row["label"] in kept
        else:
            keep = text_hash(row["text"]) in kept_hashes
        if keep:
            yield row
        else:
            yield TaggedOutput(self.PRUNED, ("pruned_class", 1))


def _rank(tally, surrogate, settings, domains):
    if tally is None:
        raise ValueError(f"prune: target {settings.target!r} has no usable example to vote "
                         "(empty, or all its rows went to dead letter)")
    keep = retained_count(len(surrogate.classes), settings.retain_classes, settings.prune_ratio)
    return rank_classes(tally, keep, domains)


class ClassDomains(beam.PTransform):
    """Source rows -> (label, its commonest domain) pairs: one per labelled class whose records
    name a domain, so the ranking can say which part of the source a class comes from."""

    def expand(self, rows):
        return (rows
                | "Labelled rows with a domain" >> beam.Filter(
                    lambda row: row.get("label") is not None and row.get("domain") is not None)
                | "Label and domain" >> beam.Map(lambda row: (row["label"], row["domain"]))
                | "Count domains per label" >> beam.combiners.Count.PerElement()
                | "Key counts by label" >> beam.MapTuple(
                    lambda pair, count: (pair[0], (count, pair[1])))
                | "Commonest domain" >> beam.CombinePerKey(commonest_domain)
                | "Domain names" >> beam.MapTuple(lambda label, pair: (label, pair[1])))


class PruneSource(beam.PTransform):
    """Label- or feature-mapping pruning of (record, vector) source pairs against target pairs.

    Output dict: `kept_classes` (one frozenset), `surrogate` (the fitted one), `ranking`
    (class_ranking rows), `chart` ((file name, PNG bytes)) and `dead_letters`. KeepSourceRows
    turns the kept classes into source rows. `domains`: (source class, domain) pairs for the
    ranking's `domain` column, if any (one per class: held as a side input).
    """

    def __init__(self, settings: PruneSettings, target_pairs: beam.PCollection,
                 domains: beam.PCollection | None = None) -> None:
        super().__init__(label=f"Prune {settings.source} for {settings.target}")
        self._settings = settings
        self._target = target_pairs
        self._domains = domains

    def expand(self, source_pairs):
        s = self._settings
        dead_letters = []
        if s.mode == "label":
            labelled = source_pairs | "Require source labels" >> beam.ParDo(
                _RequireLabelFn(s)).with_outputs(DEAD_LETTER, main="pairs")
            dead_letters.append(labelled[DEAD_LETTER])
            if s.surrogate == "centroid":
                surrogate = (labelled.pairs
                             | "Key vectors by label" >> beam.Map(
                                 lambda pair: (pair[0]["label"], pair[1]))
                             | "Class means" >> beam.CombinePerKey(MeanVectorFn())
                             | "Gather class means" >> beam.combiners.ToDict()
                             | "Centroid surrogate" >> beam.Map(CentroidSurrogate.from_means))
            else:
                surrogate = (labelled.pairs
                             | "Prioritise by label" >> beam.Map(
                                 lambda pair: (pair[0]["label"], _prioritised(pair, s.seed)))
                             | "Sample vectors per class" >> beam.combiners.Top.PerKey(
                                 s.linear_sample_per_class, key=_priority, reverse=True)
                             | "Gather class samples" >> beam.combiners.ToDict()
                             | "Fit softmax regression" >> beam.Map(_fit_linear, s.seed))
        else:
            surrogate = (source_pairs
                         | "Prioritise vectors" >> beam.Map(_prioritised, s.seed)
                         | "Sample vectors" >> beam.combiners.Top.Of(
                             s.reservoir_size, key=_priority, reverse=True)
                         | "Fit k-means" >> beam.Map(_fit_kmeans, s.clusters, s.seed))

        domains = self._domains if self._domains is not None else (
            source_pairs.pipeline | "No class domains" >> beam.Create([]))
        voters = self._target | "Allowed target labels" >> beam.ParDo(
            _AllowedTargetLabelFn(s)).with_outputs(DEAD_LETTER, main="pairs")
        dead_letters.append(voters[DEAD_LETTER])
        ranking = (
            voters.pairs
            | "Batch target votes" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024)
            | "Tally target votes" >> beam.Map(_tally, AsSingleton(surrogate))
            | "Merge vote tallies" >> beam.CombineGlobally(MergeTalliesFn())
            | "Rank source classes" >> beam.Map(_rank, AsSingleton(surrogate), s, AsDict(domains))
        )
        kept = ranking | "Kept classes" >> beam.Map(
            lambda ranks: frozenset(r.source_class for r in ranks if r.kept))
        rows = ranking | "Ranking rows" >> beam.FlatMap(
            lambda ranks: [asdict(r) for r in ranks])
        title = f"{s.source} for {s.target}"
        chart = ranking | "Votes chart" >> beam.Map(
            lambda ranks: ("votes_per_class.png", votes_chart_png(ranks, title)))
        return {"kept_classes": kept, "surrogate": surrogate, "ranking": rows, "chart": chart,
                "dead_letters": dead_letters | "Gather prune dead letters" >> beam.Flatten()}


class _KeepJoinedRowsFn(beam.DoFn):
    """The shuffle form of _KeepRowFn: one text hash's source rows, grouped with a marker when
    the text has a vector (`matched`) and, in feature mode, when its cluster is kept (`kept`)."""

    def __init__(self, mode: str) -> None:
        self._mode = mode

    def process(self, joined, kept):
        _, grouped = joined
        if not any(True for _ in grouped["matched"]):  # no vector: already a dead letter
            return
        in_kept_cluster = self._mode == "feature" and any(True for _ in grouped["kept"])
        for row in grouped["rows"]:
            if self._mode == "label" and row.get("label") is None:
                continue  # already a missing_label dead letter
            if in_kept_cluster or (self._mode == "label" and row["label"] in kept):
                yield row
            else:
                yield TaggedOutput(_KeepRowFn.PRUNED, ("pruned_class", 1))


class KeepSourceRows(beam.PTransform):
    """Source rows -> the rows of kept classes (`kept`) and ("pruned_class", 1) drops (`drops`).

    `pruned`: PruneSource's output. `attached`: AttachEmbeddings' output (its `missing` source
    rows and `matched` texts). In feature mode `vectors` is a fresh read of (text_hash, vector)
    pairs: each text's cluster is decided from it once the clusters are known. `join` says
    whether the texts without a vector and those of kept clusters are side inputs or shuffled
    with the rows (the same choice as the vector join's).
    """

    def __init__(self, settings: PruneSettings, pruned: dict, attached: dict, join: VectorJoin,
                 vectors: beam.PCollection | None = None) -> None:
        super().__init__(label=f"Keep {settings.source} rows of kept classes")
        self._settings = settings
        self._pruned = pruned
        self._attached = attached
        self._join = join
        self._vectors = vectors

    def expand(self, rows):
        kept = self._pruned["kept_classes"]
        mode = self._settings.mode
        if mode == "feature":
            kept_hashes = self._vectors | "Texts of kept clusters" >> beam.FlatMap(
                _kept_cluster_hashes, AsSingleton(self._pruned["surrogate"]), AsSingleton(kept))
        if not self._join.broadcast:
            joined = {"rows": rows | "Key rows by text hash" >> beam.Map(
                          lambda row: (text_hash(row["text"]), row)),
                      "matched": self._attached["matched"]}
            if mode == "feature":
                joined["kept"] = kept_hashes
            result = (
                joined
                | "Shuffle rows with texts" >> beam.CoGroupByKey()
                | "Keep joined rows of kept classes" >> beam.ParDo(
                    _KeepJoinedRowsFn(mode), AsSingleton(kept)).with_outputs(
                    _KeepRowFn.PRUNED, main="kept"))
            return {"kept": result.kept, "drops": result[_KeepRowFn.PRUNED]}
        if mode != "feature":
            kept_hashes = rows.pipeline | "No cluster lookup" >> beam.Create([])
        missing = self._attached["missing"] | "Source rows without vector" >> beam.FlatMap(
            lambda item: [(item[1]["id"], None)] if item[0] == "source" else [])
        result = rows | "Keep rows of kept classes" >> beam.ParDo(
            _KeepRowFn(mode), AsSingleton(kept), beam.pvalue.AsDict(missing),
            beam.pvalue.AsDict(kept_hashes)).with_outputs(_KeepRowFn.PRUNED, main="kept")
        return {"kept": result.kept, "drops": result[_KeepRowFn.PRUNED]}


class PruneForTarget(beam.PTransform):
    """The whole prune stage on published data: reads the source and target split files and the
    embeddings, pairs records with vectors, prunes, and reads the source rows again to keep.

    Applied to the pipeline. Output dict: `kept` (source rows of kept classes) with `kept_drops`
    (what happened to the other source rows), `ranking` rows, `chart`, `dead_letters` with
    `dead_letter_reasons`, and `problems`: one per row count that does not add up (see
    `_balances`), for Publish's gates.
    """

    # What pruned_source counts of the dead letters: only what happened to source rows.
    SOURCE_REASONS = ("missing_embedding", "missing_label")

    def __init__(self, settings: PruneSettings, source_files: list[str],
                 target_files: list[str], vector_files: list[str], join: VectorJoin,
                 source_rows: int, target_rows: int) -> None:
        """`source_rows`, `target_rows`: what the inputs' manifests say their files hold."""
        super().__init__(label=f"Prune {settings.source} for {settings.target} on vectors")
        self._settings = settings
        self._source_files = source_files
        self._target_files = target_files
        self._vector_files = vector_files
        self._join = join
        self._rows = {"source": source_rows, "target": target_rows}

    def _balances(self) -> tuple[RowBalance, ...]:
        """Every source row is kept, pruned or a dead letter; every record met its vector or
        is a dead letter; every read gives what the manifest says."""
        balances = []
        for role in ("source", "target"):
            balances += [
                RowBalance(f"{role} rows in the manifest", (f"{role}_read",),
                           expected=self._rows[role]),
                RowBalance(f"{role} rows read to pair with vectors",
                           (f"{role}_paired", f"{role}_without_vector"), total=f"{role}_read")]
        return (*balances,
                RowBalance("source rows in the manifest (the second read, to publish)",
                           ("source_read_again",), expected=self._rows["source"]),
                RowBalance("source rows read again to publish",
                           ("kept", "pruned_class", "source_dead_letters"),
                           total="source_read_again"))

    def expand(self, pbegin):
        s = self._settings
        groups = [RecordGroup("source", s.source, s.source_version),
                  RecordGroup("target", s.target, s.target_version)]
        # Only what the vote needs is paired with the vectors; the published rows are read again.
        read = {role: pbegin | ReadPublished(files, f"{role} {dataset}")
                for role, dataset, files in (("source", s.source, self._source_files),
                                             ("target", s.target, self._target_files))}
        records = {role: rows | f"Slim {role} records" >> beam.Map(slim_document)
                   for role, rows in read.items()}
        attached = records | AttachEmbeddings(
            pbegin | ReadVectors(self._vector_files, "to pair"), groups, "prune", self._join)
        domains = read["source"] | ClassDomains() if s.mode == "label" else None
        result = attached["source"] | PruneSource(s, attached["target"], domains)
        clustered = (pbegin | ReadVectors(self._vector_files, "to cluster")
                     if s.mode == "feature" else None)
        read_again = pbegin | ReadPublished(self._source_files, "source rows to publish")
        pruned = read_again | KeepSourceRows(s, result, attached, self._join, clustered)
        dead = ((attached["dead_letters"], result["dead_letters"])
                | "All prune dead letters" >> beam.Flatten())
        reasons = self.SOURCE_REASONS
        source_reasons = (
            dead
            | "Source dead letters" >> beam.Filter(
                lambda r: r["source"] == s.source and r["reason"] in reasons)
            | "Key source dead letters by reason" >> beam.Map(reason_count))
        counted = {"source_read_again": read_again, "kept": pruned["kept"],
                   "pruned_class": pruned["drops"], "source_dead_letters": source_reasons}
        for role in ("source", "target"):
            counted[f"{role}_read"] = read[role]
            counted[f"{role}_paired"] = attached[role]
            counted[f"{role}_without_vector"] = attached["missing"] | (
                f"{role.capitalize()} records without vector" >> beam.Filter(
                    lambda item, role=role: item[0] == role))
        return {
            "problems": pbegin | CheckRowBalances("prune", counted, self._balances()),
            "kept": pruned["kept"],
            "kept_drops": (source_reasons, pruned["drops"]) | "Pruned source drops" >> beam.Flatten(),
            "ranking": result["ranking"], "chart": result["chart"], "dead_letters": dead,
            "dead_letter_reasons": dead | "Key prune dead letters by reason" >> beam.Map(
                reason_count),
        }
