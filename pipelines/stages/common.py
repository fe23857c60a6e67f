"""What every stage's planning shares: planned outputs, parent lookups, reading published data."""

from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from transforms.publish import store
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
