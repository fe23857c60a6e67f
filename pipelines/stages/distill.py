"""Distill stage (KRR-ST): `distilled` (synthetic inputs and targets), `distilled_coreset` (the
real texts nearest to them) and `dead_letter_distill`. The teacher's vectors come from the
`embeddings` dataset; the optimisation checkpoints under the version's staging folder."""

import apache_beam as beam

from pipelines.config import DistillConfig, RebuildConfig
from pipelines.stages.common import (
    Parent,
    PlanError,
    PlannedDataset,
    latest_parent,
    plan_train_outputs,
    read_parent,
    require_device,
    require_split,
    slim_document,
    stage_settings,
)
from pipelines.stages.embed import DATASET as EMBEDDINGS
from pipelines.stages.embed import encoder_location, read_vectors
from transforms.distill.krr_st import KrrStConfig
from transforms.distill.synthetic_set import DistillSettings
from transforms.distill.transform import DistillFn, MaterialiseRealTexts
from transforms.embed.encoder import EncoderUnavailable
from transforms.embed.transform import AttachEmbeddings, RecordGroup
from transforms.publish import store
from transforms.publish.transform import DatasetOutput, Publish
from transforms.student.model import StudentConfig, TokenEmbeddingTable, table_identity

DISTILLED = "distilled"
CORESET = "distilled_coreset"
DEAD_LETTER = "dead_letter_distill"


def enabled(config: RebuildConfig) -> bool:
    return config.stages.distill is not None


def reads(config: RebuildConfig) -> list[tuple[str, str]]:
    return [("stages.distill.source", _settings(config).source)]


def outputs(config: RebuildConfig) -> list[str]:
    return [DISTILLED, CORESET, DEAD_LETTER]


def _settings(config: RebuildConfig) -> DistillConfig:
    return stage_settings(config, "distill")


def table_location(config: RebuildConfig) -> str:
    """The input space: the configured table model, or the teacher's own word embeddings."""
    settings = _settings(config)
    return config.resolve(settings.table) if settings.table else encoder_location(config)


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
        raise PlanError(f"distill: embeddings@{embeddings.version} was not built from "
                        f"{source.dataset}@{source.version} or its parents; run the embed stage "
                        "first (a rebuild without --stage does)")
    require_device("distill", settings.device)


def student_config(settings: DistillConfig, input_dim: int) -> StudentConfig:
    student = settings.student
    return StudentConfig(d_in=input_dim, d_model=student.d_model, layers=student.layers,
                         heads=student.heads, ff=student.ff, max_len=settings.sequence_length)


def plan(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
    settings = _settings(config)
    source = latest_parent(config.root, settings.source, "distill")
    embeddings = latest_parent(config.root, EMBEDDINGS, "distill")
    _check(settings, source, embeddings)
    try:
        table = TokenEmbeddingTable.load(table_location(config), settings.sequence_length)
    except EncoderUnavailable as error:
        raise PlanError(f"distill: table: {error}") from None
    teacher = embeddings.manifest["models"]["encoder"]
    models = {"teacher": teacher, "table": table_identity(table)}
    # L, d, m, P, T and steps are all in the manifest's config section.
    section = {"distill": settings.model_dump(), "seed": config.seed, "input_dim": table.dim,
               **models}
    return plan_train_outputs(
        config, "distill", ((DISTILLED, "distilled"), (CORESET, "document"),
                            (DEAD_LETTER, "dead_letter")),
        section, [source, embeddings], __name__, run_id, started_at, settings.num_shards, models,
        (source, embeddings, table.dim))


def build(pipeline: beam.Pipeline, config: RebuildConfig, planned: list[PlannedDataset]) -> None:
    settings = _settings(config)
    source, embeddings, input_dim = planned[0].context
    specs = {item.spec.dataset: item.spec for item in planned}
    distilled_spec = specs[DISTILLED]
    vectors = read_vectors(pipeline, embeddings.files(config.root), "to pair")
    records = (read_parent(pipeline, config.root, source, source.dataset, [settings.source_split])
               | "Slim records" >> beam.Map(slim_document))
    attached = {"real": records} | AttachEmbeddings(
        vectors, [RecordGroup("real", source.dataset, source.version)], stage="distill")
    location = table_location(config)
    shards = attached["real"] | MaterialiseRealTexts(
        location, settings.sequence_length, settings.tokenize_batch, distilled_spec.staging)
    checkpoints = store.checkpoint_dir(config.root, DISTILLED, distilled_spec.version)
    distill_settings = DistillSettings(
        krr=KrrStConfig(m=settings.m, pool_size=settings.pool_size,
                        pool_steps=settings.pool_steps, real_batch=settings.real_batch,
                        steps=settings.steps, lr=settings.lr, pool_lr=settings.pool_lr,
                        ridge=settings.ridge, seed=config.seed),
        student=student_config(settings, input_dim), device=settings.device,
        checkpoint_folder=checkpoints, checkpoint_every=settings.checkpoint_every)
    title = f"KRR-ST on {source.dataset}@{source.version}: m={settings.m}"
    result = (pipeline
              | "One optimisation" >> beam.Create([None])
              | "Distill" >> beam.ParDo(
                  DistillFn(distill_settings, location, settings.sequence_length, title),
                  beam.pvalue.AsList(shards)).with_outputs(
                  DistillFn.CORESET, DistillFn.ATTACHMENTS, main=DISTILLED))
    dead = attached["dead_letters"]
    reasons = dead | "Key dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1))
    outputs = [
        DatasetOutput(distilled_spec, {"train": result[DISTILLED]}, reasons,
                      attachments=result[DistillFn.ATTACHMENTS]),
        DatasetOutput(specs[CORESET], {"train": result[DistillFn.CORESET]}),
        DatasetOutput(specs[DEAD_LETTER], {"train": dead}, reasons),
    ]
    unchanged = {item.spec.dataset for item in planned if item.unchanged}
    published = pipeline | Publish("distill", [o for o in outputs
                                               if o.spec.dataset not in unchanged])
    _ = (published
         | "Count promoted" >> beam.combiners.Count.Globally()
         | "Remove checkpoints" >> beam.Map(lambda _: store.delete_folder(checkpoints)))
