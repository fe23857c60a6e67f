"""What every stage's planning shares: parent lookups, checks before any work, planned versions."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import RebuildConfig
from pipelines.stages.contract import PlanError, PlannedDataset, Stage
from transforms.publish import store, versioning
from transforms.publish.transform import PublishSpec


@dataclass(frozen=True)
class Parent:
    """A published dataset version a stage reads."""

    dataset: str
    version: str
    manifest: dict[str, Any]

    def files(self, root: str, splits: list[str] | None = None) -> list[str]:
        return store.data_files(root, self.dataset, self.version, self.manifest, splits)


def stage_section(config: RebuildConfig, stage: str) -> Any:
    """The config section of a stage that has no defaults, which must be present to run it."""
    section = getattr(config.stages, stage)
    if section is None:
        raise PlanError(f"{stage}: the config has no stages.{stage} section")
    return section


def model_location(config: RebuildConfig, model: str) -> str:
    """A relative folder resolves against the config's folder; anything else is a model id."""
    candidate = config.resolve(model)
    return candidate if Path(candidate).is_dir() else model


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


@dataclass(frozen=True)
class StageCode:
    """A stage's code version and the commit it runs from: worked out once per plan (hashing
    the stage's modules is the slow part of planning) and shared by all its outputs."""

    version: str
    commit: str | None

    @classmethod
    def of(cls, stage: Stage) -> "StageCode":
        return cls(versioning.code_version(stage.code_module, stage.kinds), versioning.git_commit())


def planned_dataset(config: RebuildConfig, stage: Stage, code: StageCode, dataset: str,
                    kind: str, section: Any, *, run_id: str, started_at: float, num_shards: int,
                    parents: dict[str, str] | None = None, inputs: tuple[dict, ...] = (),
                    splits: tuple[str, ...] = ("train",), models: dict[str, str] | None = None,
                    manifest_config: dict[str, Any] | None = None,
                    execution: dict[str, Any] | None = None) -> PlannedDataset:
    """One output version: its id hashes the dataset name, the stage, `section` (everything in
    the config that shapes the output), the inputs, the parent versions and the stage's code."""
    parents = parents or {}
    version = versioning.version_id(dataset, stage.name, section, list(inputs), parents,
                                    code.version)
    spec = PublishSpec(root=config.root, dataset=dataset, version=version, kind=kind,
                       stage=stage.name, splits=splits, run_id=run_id, started_at=started_at,
                       code_version=code.version, git_commit=code.commit,
                       num_shards=num_shards,
                       config=section if manifest_config is None else manifest_config,
                       inputs=inputs, parents=parents, seeds={"seed": config.seed},
                       models=models or {}, card=config.card.model_dump(),
                       execution=execution or {})
    return PlannedDataset(spec, store.is_published(config.root, dataset, version))


def planned_train_outputs(config: RebuildConfig, stage: Stage,
                          outputs: tuple[tuple[str, str], ...], section: dict[str, Any],
                          parents: list[Parent], run_id: str, started_at: float,
                          num_shards: int, models: dict[str, str],
                          execution: dict[str, Any] | None = None) -> tuple[PlannedDataset, ...]:
    """The planned versions of a stage's (dataset, kind) outputs, each one `train` split, all
    versioned by the same config section, parent versions and code (`execution`, how the run
    spreads the work, is recorded but versions nothing)."""
    versions = {p.dataset: p.version for p in parents}
    code = StageCode.of(stage)
    return tuple(planned_dataset(config, stage, code, name, kind, section, run_id=run_id,
                                 started_at=started_at, num_shards=num_shards, parents=versions,
                                 models=models, execution=execution)
                 for name, kind in outputs)
