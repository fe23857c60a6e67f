"""What every stage's planning shares: planned outputs, parent lookups, reading published data."""

from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipelines.config import RebuildConfig
from transforms.publish import store, versioning
from transforms.publish.transform import PublishSpec


class PlanError(ValueError):
    """A stage cannot run with this config and these inputs; nothing of it has started."""


@dataclass(frozen=True)
class PlannedDataset:
    spec: PublishSpec
    unchanged: bool
    # Stage-specific facts found while planning (e.g. ingest's sources), for building the graph.
    context: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Parent:
    """A published dataset version a stage reads."""

    dataset: str
    version: str
    manifest: dict[str, Any]

    def files(self, root: str, splits: list[str] | None = None) -> list[str]:
        return store.data_files(root, self.dataset, self.version, self.manifest, splits)


def stage_settings(config: RebuildConfig, stage: str) -> Any:
    """The config section of a model stage, which must be present for the stage to run."""
    section = getattr(config.stages, stage)
    if section is None:
        raise PlanError(f"{stage}: the config has no stages.{stage} section")
    return section


def require_split(stage: str, parent: Parent, kind: str, split: str) -> None:
    """A stage reads `split` of `parent` as rows of `kind`; say so before any work if it cannot."""
    if parent.manifest["kind"] != kind:
        raise PlanError(f"{stage}: {parent.dataset!r} holds {parent.manifest['kind']} rows, "
                        f"not {kind} rows")
    if split not in parent.manifest["splits"]:
        raise PlanError(f"{stage}: {parent.dataset}@{parent.version} has no split {split!r}; "
                        f"it has {sorted(parent.manifest['splits'])}")


def require_device(stage: str, device: str) -> None:
    """`cuda` asked for where torch sees none is a config error, not a failure mid-run."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise PlanError(f"{stage}: device is 'cuda' but torch sees no CUDA device here; "
                            "set device: cpu or run on a GPU worker")


def latest_parent(root: str, dataset: str, stage: str) -> Parent:
    version = store.latest_version(root, dataset)
    if version is None or not store.is_published(root, dataset, version):
        raise PlanError(f"{stage}: needs dataset {dataset!r}, which is not published under {root}; "
                        "run the stage that produces it first")
    return Parent(dataset, version, store.read_manifest(root, dataset, version))


def read_parent(pipeline: beam.Pipeline, root: str, parent: Parent, label: str,
                splits: list[str] | None = None) -> beam.PCollection:
    """The rows of a published version (all splits, or the ones named), via Beam's parquetio."""
    files = parent.files(root, splits)
    return (pipeline
            | f"List {label} files" >> beam.Create(files)
            | f"Read {label}" >> beam.io.ReadAllFromParquet())


def plan_train_outputs(config: RebuildConfig, stage: str, outputs: tuple[tuple[str, str], ...],
                       section: dict[str, Any], parents: list[Parent], stage_module: str,
                       run_id: str, started_at: float, num_shards: int,
                       models: dict[str, str], context: tuple[Any, ...]) -> list[PlannedDataset]:
    """The planned versions of a model stage's (dataset, kind) outputs, each one `train` split,
    all versioned by the same config section, parent versions and code."""
    versions = {p.dataset: p.version for p in parents}
    code = versioning.code_version(stage_module)
    commit = versioning.git_commit()
    planned = []
    for name, kind in outputs:
        version = versioning.version_id(name, stage, section, [], versions, code)
        spec = PublishSpec(root=config.root, dataset=name, version=version, kind=kind,
                           stage=stage, splits=("train",), run_id=run_id, started_at=started_at,
                           code_version=code, git_commit=commit, num_shards=num_shards,
                           config=section, parents=versions, seeds={"seed": config.seed},
                           models=models)
        planned.append(PlannedDataset(spec, store.is_published(config.root, name, version),
                                      context))
    return planned


def slim_document(record: dict) -> dict:
    """What pairing a document with its vector needs (the side the join holds in memory)."""
    return {"id": record["id"], "text": record["text"], "label": record["label"]}
