"""The stage contract: what a stage declares about itself, and the plan it hands its build.

A stage is one module in this package with one `Stage` subclass; the registry
(`pipelines.stages.STAGES`) lists them in run order. The rebuild only talks to stages through
this contract: it checks every declared read against what earlier stages publish, asks each
stage to plan its versions, skips a stage whose versions are all published and builds the rest.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

import apache_beam as beam

from pipelines.config import RebuildConfig
from transforms.publish.transform import DatasetOutput, PublishSpec

# The dataset the embed stage publishes: one vector per distinct text, keyed by text hash. A stage
# that declares `vector_reads` reads its vectors from here.
VECTORS = "embeddings"


class PlanError(ValueError):
    """A stage cannot run with this config and these inputs; nothing of it has started."""


@dataclass(frozen=True)
class DatasetRead:
    """A dataset a stage reads, with the config key that names it (for error messages), and the
    split it reads (None: every split)."""

    key: str
    dataset: str
    split: str | None = None


@dataclass(frozen=True)
class PlannedDataset:
    """One output version of a stage, and whether it is already published."""

    spec: PublishSpec
    unchanged: bool


@dataclass(frozen=True)
class StagePlan:
    """A stage's planned output versions. Each stage subclasses it with the facts its build
    needs (the parent versions it reads, a model identity …), found once while planning."""

    datasets: tuple[PlannedDataset, ...]

    @property
    def unchanged(self) -> bool:
        return all(item.unchanged for item in self.datasets)

    def spec(self, dataset: str) -> PublishSpec:
        return next(item.spec for item in self.datasets if item.spec.dataset == dataset)

    def to_publish(self, outputs: list[DatasetOutput]) -> list[DatasetOutput]:
        """The outputs whose version is not published yet."""
        unchanged = {item.spec.dataset for item in self.datasets if item.unchanged}
        return [output for output in outputs if output.spec.dataset not in unchanged]


PlanT = TypeVar("PlanT", bound=StagePlan)


class Stage(ABC, Generic[PlanT]):
    """One stage of a rebuild: declares what it reads and publishes, plans, builds its graph."""

    name: ClassVar[str]
    # The dataset kinds it may publish; their contracts (schema, expectations) are part of its
    # code version, so editing another kind's contract does not re-version this stage.
    kinds: ClassVar[tuple[str, ...]]

    @property
    def code_module(self) -> str:
        """The module whose source, with the `transforms` modules it imports, is the stage's
        code version."""
        return type(self).__module__

    @abstractmethod
    def enabled(self, config: RebuildConfig) -> bool:
        """Whether a rebuild without `--stage` runs this stage."""

    @abstractmethod
    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        """The published datasets the stage reads."""

    @abstractmethod
    def publishes(self, config: RebuildConfig) -> list[str]:
        """The datasets the stage publishes."""

    def vector_reads(self, config: RebuildConfig) -> list[DatasetRead]:
        """The datasets (among `reads`) whose texts the stage needs vectors of; none when the
        stage is not enabled (the embed stage asks every stage, to know what to embed)."""
        return []

    def text_sources(self, config: RebuildConfig) -> dict[str, DatasetRead]:
        """Published dataset -> the read (dataset and split) whose texts it holds a subset of,
        so that vectors of the latter cover it (prune's `pruned_source` holds rows of its
        source split); none when the stage is not enabled."""
        return {}

    @abstractmethod
    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> PlanT:
        """The output versions, after checking what can be checked before any work."""

    @abstractmethod
    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: PlanT) -> None:
        """Add the graph that publishes the plan's unpublished versions to `pipeline`."""
