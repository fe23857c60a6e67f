"""Embed stage: the `embeddings` dataset, one vector per distinct text of the datasets that later
stages read, keyed by (model identity, text hash). Texts already in the previous version for the
same model are not encoded again."""

from pathlib import Path

import apache_beam as beam

from pipelines.config import EmbedConfig, RebuildConfig
from pipelines.stages.common import (
    Parent,
    PlanError,
    PlannedDataset,
    latest_parent,
    read_parent,
    require_device,
)
from transforms.embed.encoder import EncoderSettings, EncoderUnavailable, encoder_identity
from transforms.embed.handler import SentenceEncoderModelHandler
from transforms.embed.transform import EmbedTexts, vectors_of
from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec

DATASET = "embeddings"
TEXT_FIELD = {"document": "text", "judgement": "query"}
PRUNED_SOURCE = "pruned_source"  # the prune stage's output dataset


def enabled(config: RebuildConfig) -> bool:
    stages = config.stages
    return any(s is not None for s in (stages.embed, stages.prune, stages.distill))


def settings_of(config: RebuildConfig) -> EmbedConfig:
    return config.stages.embed or EmbedConfig()


def datasets_to_embed(config: RebuildConfig) -> list[str]:
    return sorted({name for _, name in reads(config)})


def reads(config: RebuildConfig) -> list[tuple[str, str]]:
    """The configured datasets, or what prune and distill read, each with the key naming it. A
    distill of the prune's output is covered by embedding the prune's source, which is published
    before this stage runs."""
    settings = settings_of(config)
    if settings.datasets is not None:
        return [("stages.embed.datasets", name) for name in settings.datasets]
    prune, distill = config.stages.prune, config.stages.distill
    names = []
    if prune:
        names += [("stages.prune.source", prune.source), ("stages.prune.target", prune.target)]
    if distill:
        names.append(("stages.prune.source", prune.source)
                     if prune and distill.source == PRUNED_SOURCE
                     else ("stages.distill.source", distill.source))
    return names


def outputs(config: RebuildConfig) -> list[str]:
    return [DATASET]


def encoder_location(config: RebuildConfig) -> str:
    """A relative folder resolves against the config's folder; anything else is a model id."""
    model = settings_of(config).model
    candidate = config.resolve(model)
    return candidate if Path(candidate).is_dir() else model


def plan(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
    settings = settings_of(config)
    require_device("embed", settings.device)
    try:
        identity = encoder_identity(encoder_location(config))
    except EncoderUnavailable as error:
        raise PlanError(f"embed: {error}") from None
    parents = [latest_parent(config.root, name, "embed") for name in datasets_to_embed(config)]
    section = {"model": identity, "max_length": settings.max_length,
               "datasets": [p.dataset for p in parents]}
    code = versioning.code_version(__name__)
    versions = {p.dataset: p.version for p in parents}
    version = versioning.version_id(DATASET, "embed", section, [], versions, code)
    spec = PublishSpec(root=config.root, dataset=DATASET, version=version, kind="embedding",
                       stage="embed", splits=("train",), run_id=run_id, started_at=started_at,
                       code_version=code, git_commit=versioning.git_commit(),
                       num_shards=settings.num_shards, config=settings.model_dump(),
                       parents=versions, seeds={"seed": config.seed},
                       models={"encoder": identity})
    previous = None
    latest = store.latest_version(config.root, DATASET)
    if latest and store.is_published(config.root, DATASET, latest):
        candidate = latest_parent(config.root, DATASET, "embed")
        same_vectors = (candidate.manifest["models"].get("encoder") == identity
                        and candidate.manifest["config"].get("max_length") == settings.max_length)
        if same_vectors:  # only vectors the same model made from the same tokens are reused
            previous = candidate
    return [PlannedDataset(spec, store.is_published(config.root, DATASET, version),
                           (tuple(parents), previous))]


def build(pipeline: beam.Pipeline, config: RebuildConfig, planned: list[PlannedDataset]) -> None:
    [item] = planned
    parents, previous = item.context
    settings = settings_of(config)
    texts = []
    for parent in parents:
        field = TEXT_FIELD[parent.manifest["kind"]]
        texts.append(read_parent(pipeline, config.root, parent, parent.dataset)
                     | f"{parent.dataset} texts" >> beam.Map(lambda row, f=field: row[f]))
    previous_files = previous.files(config.root) if isinstance(previous, Parent) else []
    previous_vectors = read_vectors(pipeline, previous_files, "previous version")
    handler = SentenceEncoderModelHandler(
        EncoderSettings(encoder_location(config), settings.max_length, settings.device),
        settings.batch_size)
    window = settings.batch_size * settings.length_sort_batches
    embedded = (texts | "All texts" >> beam.Flatten()) | EmbedTexts(
        handler, item.spec.models["encoder"], previous_vectors, length_sort_window=window)
    drops = embedded["empty"] | "Count texts without tokens" >> beam.Map(
        lambda _: ("no_real_token", 1))
    pipeline | Publish("embed", [DatasetOutput(item.spec, {"train": embedded["embeddings"]},
                                               drops)])


def read_vectors(pipeline: beam.Pipeline, files: list[str], label: str) -> beam.PCollection:
    """(text_hash, vector) pairs of embeddings files. Each consumer should read its own: the
    local runner holds a PCollection in memory when two steps consume it."""
    return (pipeline
            | f"List embeddings files ({label})" >> beam.Create(files)
            | f"Read embeddings ({label})" >> beam.io.ReadAllFromParquetBatched(
                columns=["text_hash", "embedding"])
            | f"Vectors ({label})" >> beam.FlatMap(vectors_of))
