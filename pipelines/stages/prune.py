"""Prune stage: `pruned_source`, `class_ranking` (with its votes chart) and `dead_letter_prune`."""

from dataclasses import dataclass

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.config import PruneConfig, RebuildConfig
from pipelines.stages.contract import VECTORS, DatasetRead, PlanError, Stage, StagePlan
from pipelines.stages.planning import (
    Parent,
    latest_parent,
    planned_train_outputs,
    require_split,
    stage_section,
)
from transforms.prune.label_mapping import retained_count
from transforms.prune.transform import PruneForTarget, PruneSettings
from transforms.publish.transform import DatasetOutput, Publish
from transforms.settings import settings_from
from transforms.vector_join import VectorJoin

PRUNED = "pruned_source"
RANKING = "class_ranking"
DEAD_LETTER = "dead_letter_prune"


@dataclass(frozen=True)
class PrunePlan(StagePlan):
    source: Parent
    target: Parent
    embeddings: Parent
    join: VectorJoin


def _settings(config: RebuildConfig) -> PruneConfig:
    return stage_section(config, "prune")


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


class PruneStage(Stage[PrunePlan]):
    name = "prune"
    kinds = ("document", "class_ranking", "dead_letter")

    def enabled(self, config: RebuildConfig) -> bool:
        return config.stages.prune is not None

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        return [*self.vector_reads(config), DatasetRead("stages.prune", VECTORS)]

    def vector_reads(self, config: RebuildConfig) -> list[DatasetRead]:
        settings = config.stages.prune
        if settings is None:
            return []
        return [DatasetRead("stages.prune.source", settings.source, settings.source_split),
                DatasetRead("stages.prune.target", settings.target, settings.target_split)]

    def text_sources(self, config: RebuildConfig) -> dict[str, DatasetRead]:
        settings = config.stages.prune
        return {} if settings is None else {PRUNED: self.vector_reads(config)[0]}

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [PRUNED, RANKING, DEAD_LETTER]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> PrunePlan:
        settings = _settings(config)
        source = latest_parent(config.root, settings.source, "prune")
        target = latest_parent(config.root, settings.target, "prune")
        embeddings = latest_parent(config.root, VECTORS, "prune")
        _check(config, settings, source, target)
        covered = embeddings.manifest["parents"]
        if any(covered.get(p.dataset) != p.version for p in (source, target)):
            raise PlanError(
                f"prune: {VECTORS}@{embeddings.version} was built from {covered}, not from "
                f"{source.dataset}@{source.version} and {target.dataset}@{target.version}; run "
                "the embed stage first (a rebuild without --stage does)")
        section = {"prune": settings.model_dump(), "seed": config.seed}
        records = (source.manifest["splits"][settings.source_split]["rows"]
                   + target.manifest["splits"][settings.target_split]["rows"])
        join = VectorJoin(records, config.scale.broadcast_join_max_rows)
        planned = planned_train_outputs(
            config, self, ((PRUNED, "document"), (RANKING, "class_ranking"),
                           (DEAD_LETTER, "dead_letter")),
            section, [source, target, embeddings], run_id, started_at, settings.num_shards,
            embeddings.manifest["models"], join.manifest())
        return PrunePlan(planned, source, target, embeddings, join)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: PrunePlan) -> None:
        settings = _settings(config)
        source, target = plan.source, plan.target
        pruning = settings_from(settings, PruneSettings, seed=config.seed,
                                source_version=source.version, target_version=target.version)
        result = pipeline | PruneForTarget(
            pruning, source.files(config.root, [settings.source_split]),
            target.files(config.root, [settings.target_split]),
            plan.embeddings.files(config.root), plan.join,
            source.manifest["splits"][settings.source_split]["rows"],
            target.manifest["splits"][settings.target_split]["rows"])
        pipeline | Publish("prune", plan.to_publish([
            DatasetOutput(plan.spec(PRUNED), {"train": result["kept"]}, result["kept_drops"]),
            DatasetOutput(plan.spec(RANKING), {"train": result["ranking"]},
                          attachments=result["chart"]),
            DatasetOutput(plan.spec(DEAD_LETTER), {"train": result["dead_letters"]},
                          result["dead_letter_reasons"]),
        ]), gates=result["problems"])


STAGE = PruneStage()
