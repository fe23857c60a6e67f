"""Distill stage (KRR-ST): `distilled` (synthetic inputs and targets), `distilled_coreset` (the
real texts nearest to them) and `dead_letter_distill`. The teacher's vectors come from the
`embeddings` dataset; the optimisation checkpoints under the version's staging folder."""

from dataclasses import dataclass

import apache_beam as beam

from pipelines.config import DistillConfig, EmbedConfig, RebuildConfig
from pipelines.stages.contract import VECTORS, DatasetRead, PlanError, Stage, StagePlan
from pipelines.stages.planning import (
    Parent,
    latest_parent,
    model_location,
    planned_train_outputs,
    require_device,
    require_split,
    stage_section,
)
from transforms.distill.krr_st import KrrStSettings
from transforms.distill.synthetic_set import DistillSettings
from transforms.distill.transform import DistillCorpus, DistillInputs
from transforms.embed.encoder import EncoderUnavailable
from transforms.publish import store
from transforms.publish.transform import DatasetOutput, Publish
from transforms.settings import settings_from
from transforms.student.model import StudentSettings, TokenEmbeddingTable, table_identity
from transforms.vector_join import VectorJoin

DISTILLED = "distilled"
CORESET = "distilled_coreset"
DEAD_LETTER = "dead_letter_distill"


@dataclass(frozen=True)
class DistillPlan(StagePlan):
    source: Parent
    embeddings: Parent
    table: str  # where the table model loads from
    input_dim: int  # d: the table's width
    join: VectorJoin


def _settings(config: RebuildConfig) -> DistillConfig:
    return stage_section(config, "distill")


def _table_location(config: RebuildConfig) -> str:
    """The input space: the configured table model, or the teacher's (the embed stage's model)
    own word embeddings."""
    table = _settings(config).table or (config.stages.embed or EmbedConfig()).model
    return model_location(config, table)


def _embedded(embeddings: Parent, source: Parent) -> bool:
    """Whether the embeddings were built from the source or from the dataset it was made from
    (e.g. the prune stage's input, for a distill of `pruned_source`)."""
    covered = embeddings.manifest["parents"]
    lineage = {source.dataset: source.version, **source.manifest.get("parents", {})}
    return any(covered.get(name) == version for name, version in lineage.items())


def _check(settings: DistillConfig, source: Parent, embeddings: Parent) -> None:
    require_split("distill", source, "document", settings.source_split)
    rows = source.manifest["splits"][settings.source_split]["rows"]
    if rows < settings.m:
        raise PlanError(f"distill: {source.dataset}/{settings.source_split} has {rows:,} rows, "
                        f"fewer than m = {settings.m:,} synthetic examples; lower m")
    if not _embedded(embeddings, source):
        raise PlanError(f"distill: {VECTORS}@{embeddings.version} was not built from "
                        f"{source.dataset}@{source.version} or its parents; run the embed stage "
                        "first (a rebuild without --stage does)")
    require_device("distill", settings.device)


class DistillStage(Stage[DistillPlan]):
    name = "distill"
    kinds = ("distilled", "document", "dead_letter")

    def enabled(self, config: RebuildConfig) -> bool:
        return config.stages.distill is not None

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        return [*self.vector_reads(config), DatasetRead("stages.distill", VECTORS)]

    def vector_reads(self, config: RebuildConfig) -> list[DatasetRead]:
        settings = config.stages.distill
        return [] if settings is None else [
            DatasetRead("stages.distill.source", settings.source, settings.source_split)]

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [DISTILLED, CORESET, DEAD_LETTER]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> DistillPlan:
        settings = _settings(config)
        source = latest_parent(config.root, settings.source, "distill")
        embeddings = latest_parent(config.root, VECTORS, "distill")
        _check(settings, source, embeddings)
        location = _table_location(config)
        try:
            table = TokenEmbeddingTable.load(location, settings.sequence_length)
        except EncoderUnavailable as error:
            raise PlanError(f"distill: table: {error}") from None
        models = {"teacher": embeddings.manifest["models"]["encoder"],
                  "table": table_identity(table)}
        # L, d, m, P, T and steps are all in the manifest's config section.
        section = {"distill": settings.model_dump(), "seed": config.seed, "input_dim": table.dim,
                   **models}
        rows = source.manifest["splits"][settings.source_split]["rows"]
        join = VectorJoin(min(rows, settings.max_real_texts), config.scale.broadcast_join_max_rows)
        planned = planned_train_outputs(
            config, self, ((DISTILLED, "distilled"), (CORESET, "document"),
                           (DEAD_LETTER, "dead_letter")),
            section, [source, embeddings], run_id, started_at, settings.num_shards, models,
            join.manifest())
        return DistillPlan(planned, source, embeddings, location, table.dim, join)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: DistillPlan) -> None:
        settings = _settings(config)
        spec = plan.spec(DISTILLED)
        checkpoints = store.checkpoint_dir(config.root, DISTILLED, spec.version)
        distilling = DistillSettings(
            krr=settings_from(settings, KrrStSettings, seed=config.seed),
            student=settings_from(settings.student, StudentSettings, d_in=plan.input_dim,
                                  max_len=settings.sequence_length),
            device=settings.device, checkpoint_folder=checkpoints,
            checkpoint_every=settings.checkpoint_every,
            target_normalisation=settings.target_normalisation)
        inputs = DistillInputs(
            source=plan.source.dataset, source_version=plan.source.version,
            source_files=tuple(plan.source.files(config.root, [settings.source_split])),
            source_rows=plan.source.manifest["splits"][settings.source_split]["rows"],
            vector_files=tuple(plan.embeddings.files(config.root)), table_model=plan.table,
            sequence_length=settings.sequence_length, tokenize_batch=settings.tokenize_batch,
            staging=spec.staging, max_real_texts=settings.max_real_texts, seed=config.seed,
            join=plan.join)
        result = pipeline | DistillCorpus(inputs, distilling)
        published = pipeline | Publish("distill", plan.to_publish([
            DatasetOutput(spec, {"train": result["distilled"]}, result["dead_letter_reasons"],
                          attachments=result["attachments"], reports=result["reports"]),
            DatasetOutput(plan.spec(CORESET), {"train": result["coreset"]}),
            DatasetOutput(plan.spec(DEAD_LETTER), {"train": result["dead_letters"]},
                          result["dead_letter_reasons"]),
        ]))
        _ = (published
             | "Count promoted" >> beam.combiners.Count.Globally()
             | "Remove checkpoints" >> beam.Map(lambda _: store.delete_folder(checkpoints)))


STAGE = DistillStage()
