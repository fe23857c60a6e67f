"""Prune stage: `pruned_source`, `class_ranking` (with its votes chart) and `dead_letter_prune`."""

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.config import PruneConfig, RebuildConfig
from pipelines.stages.common import (
    Parent,
    PlanError,
    PlannedDataset,
    latest_parent,
    plan_train_outputs,
    read_parent,
    require_split,
    slim_document,
    stage_settings,
)
from pipelines.stages.embed import DATASET as EMBEDDINGS
from pipelines.stages.embed import PRUNED_SOURCE as PRUNED
from pipelines.stages.embed import read_vectors
from transforms.embed.transform import AttachEmbeddings, RecordGroup
from transforms.prune.label_mapping import retained_count
from transforms.prune.transform import KeepSourceRows, PruneSettings, PruneSource
from transforms.publish.transform import DatasetOutput, Publish

RANKING = "class_ranking"
DEAD_LETTER = "dead_letter_prune"
SOURCE_REASONS = ("missing_embedding", "missing_label")


def enabled(config: RebuildConfig) -> bool:
    return config.stages.prune is not None


def reads(config: RebuildConfig) -> list[tuple[str, str]]:
    settings = _settings(config)
    return [("stages.prune.source", settings.source), ("stages.prune.target", settings.target)]


def outputs(config: RebuildConfig) -> list[str]:
    return [PRUNED, RANKING, DEAD_LETTER]


def _settings(config: RebuildConfig) -> PruneConfig:
    return stage_settings(config, "prune")


def _labels(root: str, source: Parent, split: str) -> set[str]:
    """Distinct labels of a split, reading only the label column."""
    labels: set[str] = set()
    for path in source.files(root, [split]):
        with FileSystems.open(path) as handle:
            column = pq.read_table(handle, columns=["label"]).column("label")
        labels.update(v for v in column.unique().to_pylist() if v is not None)
    return labels


def _check(config: RebuildConfig, settings: PruneConfig, source: Parent, target: Parent) -> None:
    """Fail before any work on what can be known from the published inputs."""
    require_split("prune", source, "document", settings.source_split)
    require_split("prune", target, "document", settings.target_split)
    if target.manifest["splits"][settings.target_split]["rows"] == 0:
        raise PlanError(f"prune: target {target.dataset}/{settings.target_split} is empty; "
                        "there is nothing to vote with")
    if settings.target_labels is not None:
        labels = _labels(config.root, target, settings.target_split)
        if not labels & set(settings.target_labels):
            raise PlanError(f"prune: no target row has a label in target_labels "
                            f"{settings.target_labels}; the target has {sorted(labels)[:10]}")
    if settings.mode == "label":
        n_classes = len(_labels(config.root, source, settings.source_split))
    else:
        n_classes = settings.clusters
        rows = source.manifest["splits"][settings.source_split]["rows"]
        if min(rows, settings.reservoir_size) < settings.clusters:
            raise PlanError(f"prune: k-means with clusters={settings.clusters} needs that many "
                            f"source vectors; the source has {rows} rows and reservoir_size is "
                            f"{settings.reservoir_size}")
    try:
        retained_count(n_classes, settings.retain_classes, settings.prune_ratio)
    except ValueError as error:
        raise PlanError(f"prune: {error}") from None


def plan(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
    settings = _settings(config)
    source = latest_parent(config.root, settings.source, "prune")
    target = latest_parent(config.root, settings.target, "prune")
    embeddings = latest_parent(config.root, EMBEDDINGS, "prune")
    _check(config, settings, source, target)
    covered = embeddings.manifest["parents"]
    if any(covered.get(p.dataset) != p.version for p in (source, target)):
        raise PlanError(
            f"prune: embeddings@{embeddings.version} was built from {covered}, not from "
            f"{source.dataset}@{source.version} and {target.dataset}@{target.version}; run the "
            "embed stage first (a rebuild without --stage does)")
    section = {"prune": settings.model_dump(), "seed": config.seed}
    return plan_train_outputs(
        config, "prune", ((PRUNED, "document"), (RANKING, "class_ranking"),
                          (DEAD_LETTER, "dead_letter")),
        section, [source, target, embeddings], __name__, run_id, started_at, settings.num_shards,
        embeddings.manifest["models"], (source, target, embeddings))


def build(pipeline: beam.Pipeline, config: RebuildConfig, planned: list[PlannedDataset]) -> None:
    settings = _settings(config)
    source, target, embeddings = planned[0].context
    files = embeddings.files(config.root)
    groups = [RecordGroup("source", source.dataset, source.version),
              RecordGroup("target", target.dataset, target.version)]
    # Only what the vote needs is paired with the vectors; the published rows are read again.
    records = {
        role: read_parent(pipeline, config.root, parent, f"{role} {parent.dataset}", [split])
        | f"Slim {role} records" >> beam.Map(slim_document)
        for role, parent, split in (("source", source, settings.source_split),
                                    ("target", target, settings.target_split))
    }
    attached = records | AttachEmbeddings(read_vectors(pipeline, files, "to pair"), groups,
                                          stage="prune")
    prune_settings = PruneSettings(
        mode=settings.mode, surrogate=settings.surrogate, retain_classes=settings.retain_classes,
        prune_ratio=settings.prune_ratio, clusters=settings.clusters,
        reservoir_size=settings.reservoir_size,
        linear_sample_per_class=settings.linear_sample_per_class, seed=config.seed,
        source=source.dataset, source_version=source.version, target=target.dataset,
        target_version=target.version,
        target_labels=tuple(settings.target_labels) if settings.target_labels else None)
    result = attached["source"] | PruneSource(prune_settings, attached["target"])
    missing_ids = attached["missing"] | "Source rows without vector" >> beam.FlatMap(
        lambda item: [item[1]["id"]] if item[0] == "source" else [])
    clustered = (read_vectors(pipeline, files, "to cluster") if settings.mode == "feature"
                 else None)
    pruned = (read_parent(pipeline, config.root, source, "source rows to publish",
                          [settings.source_split])
              | KeepSourceRows(prune_settings, result, missing_ids, clustered))
    dead = ((attached["dead_letters"], result["dead_letters"])
            | "All prune dead letters" >> beam.Flatten())
    reasons = dead | "Key prune dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1))
    # pruned_source counts only what happened to source rows.
    source_reasons = (dead
                      | "Source dead letters" >> beam.Filter(
                          lambda r: r["source"] == source.dataset and r["reason"] in SOURCE_REASONS)
                      | "Key source dead letters by reason" >> beam.Map(
                          lambda r: (r["reason"], 1)))
    drops = (source_reasons, pruned["drops"]) | "Pruned source drops" >> beam.Flatten()
    specs = {item.spec.dataset: item.spec for item in planned}
    outputs = [
        DatasetOutput(specs[PRUNED], {"train": pruned["kept"]}, drops),
        DatasetOutput(specs[RANKING], {"train": result["ranking"]}, attachments=result["chart"]),
        DatasetOutput(specs[DEAD_LETTER], {"train": dead}, reasons),
    ]
    unchanged = {item.spec.dataset for item in planned if item.unchanged}
    pipeline | Publish("prune", [o for o in outputs if o.spec.dataset not in unchanged])
