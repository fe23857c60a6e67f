"""Embed stage: the `embeddings` dataset, one vector per distinct text of the datasets that later
stages need vectors of, keyed by (model identity, text hash). Texts already in the previous
version for the same model are not encoded again."""

from dataclasses import dataclass

import apache_beam as beam

from pipelines.config import EmbedConfig, RebuildConfig
from pipelines.stages.contract import (
    VECTORS,
    DatasetRead,
    PlanError,
    PlannedDataset,
    Stage,
    StagePlan,
)
from pipelines.stages.planning import (
    Parent,
    StageCode,
    latest_parent,
    model_location,
    planned_dataset,
    require_device,
)
from transforms.embed.encoder import (
    EncoderSettings,
    EncoderUnavailable,
    encoder_identity,
    resolve_encoder,
)
from transforms.embed.handler import SentenceEncoderModelHandler
from transforms.embed.onnx_model import ensure_exported
from transforms.embed.transform import EmbedDatasets, TextSource
from transforms.publish import store
from transforms.publish.transform import DatasetOutput, Publish
from transforms.settings import settings_from


@dataclass(frozen=True)
class EmbedPlan(StagePlan):
    parents: tuple[Parent, ...]  # the datasets whose texts are embedded
    splits: dict[str, list[str] | None]  # dataset -> the splits embedded (None: all)
    previous: Parent | None  # the version whose vectors are reused: same model, same tokens


def _settings(config: RebuildConfig) -> EmbedConfig:
    return config.stages.embed or EmbedConfig()


def _splits_read(reads: list[DatasetRead]) -> dict[str, list[str] | None]:
    """Dataset -> the splits any read names, sorted; None where one reads every split."""
    splits: dict[str, set[str] | None] = {}
    for read in reads:
        known = splits.setdefault(read.dataset, set())
        if known is not None:
            splits[read.dataset] = None if read.split is None else known | {read.split}
    return {name: None if found is None else sorted(found)
            for name, found in sorted(splits.items())}


def encoder_location(config: RebuildConfig) -> str:
    return model_location(config, _settings(config).model)


class EmbedStage(Stage[EmbedPlan]):
    name = "embed"
    kinds = ("embedding",)

    def enabled(self, config: RebuildConfig) -> bool:
        from pipelines.stages import vector_reads  # the registry imports this module

        return config.stages.embed is not None or bool(vector_reads(config))

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        """The configured datasets, or those whose vectors later stages need."""
        from pipelines.stages import vector_reads

        names = _settings(config).datasets
        if names is not None:
            return [DatasetRead("stages.embed.datasets", name) for name in names]
        return vector_reads(config)

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [VECTORS]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> EmbedPlan:
        settings = _settings(config)
        require_device("embed", settings.device)
        try:
            identity = encoder_identity(encoder_location(config), settings.backend,
                                        settings.precision)
        except EncoderUnavailable as error:
            raise PlanError(f"embed: {error}") from None
        splits = _splits_read(self.reads(config))
        parents = tuple(latest_parent(config.root, name, "embed") for name in splits)
        # Everything that sets a vector's bits: the model and its tokens, and the batches it
        # runs on (their makeup depends on the batch settings, and a reused vector is not
        # encoded, so the version it reuses is part of the id too).
        section = {"model": identity, "max_length": settings.max_length,
                   "batch_size": settings.batch_size,
                   "length_sort_batches": settings.length_sort_batches, "device": settings.device,
                   "datasets": [p.dataset for p in parents], "splits": splits}

        code = StageCode.of(self)

        def planned_reusing(reused_from: str | None) -> PlannedDataset:
            return planned_dataset(
                config, self, code, VECTORS, "embedding", {**section, "reused_from": reused_from},
                run_id=run_id, started_at=started_at, num_shards=settings.num_shards,
                parents={p.dataset: p.version for p in parents}, models={"encoder": identity},
                manifest_config={**settings.model_dump(), "reused_from": reused_from})

        planned, previous = planned_reusing(None), None
        latest = store.latest_version(config.root, VECTORS)
        if latest and store.is_published(config.root, VECTORS, latest):
            candidate = latest_parent(config.root, VECTORS, "embed")
            if (candidate.manifest["models"].get("encoder") == identity
                    and candidate.manifest["config"].get("max_length") == settings.max_length):
                # only vectors the same model made from the same tokens are reused; LATEST may
                # itself be this version (built the same way, reusing the same one)
                same = planned_reusing(candidate.manifest["config"].get("reused_from"))
                if same.spec.version == candidate.version:
                    planned = same
                else:
                    planned, previous = planned_reusing(candidate.version), candidate
        return EmbedPlan((planned,), parents, splits, previous)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: EmbedPlan) -> None:
        settings = _settings(config)
        spec = plan.spec(VECTORS)
        sources = []
        for parent in plan.parents:
            wanted = plan.splits[parent.dataset]
            rows = sum(info["rows"] for split, info in parent.manifest["splits"].items()
                       if wanted is None or split in wanted)
            sources.append(TextSource(parent.dataset, parent.manifest["kind"],
                                      tuple(parent.files(config.root, wanted)), rows))
        location = encoder_location(config)
        onnx_file = None
        if settings.backend == "onnx":  # made once here, read by every worker
            onnx_file = ensure_exported(config.root, resolve_encoder(location),
                                        spec.models["encoder"], settings.precision)
        handler = SentenceEncoderModelHandler(
            settings_from(settings, EncoderSettings, model=location, onnx_file=onnx_file),
            expected_texts=sum(source.rows for source in sources))
        embedded = pipeline | EmbedDatasets(
            sources, plan.previous.files(config.root) if plan.previous else [], handler,
            spec.models["encoder"], settings.batch_size, settings.length_sort_batches)
        pipeline | Publish("embed", plan.to_publish([
            DatasetOutput(spec, {"train": embedded["embeddings"]}, embedded["drops"])]))


STAGE = EmbedStage()
