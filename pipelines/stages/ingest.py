"""Ingest stage: every source into its dataset and split, bad rows into `dead_letter_ingest`."""

from dataclasses import dataclass

import apache_beam as beam

from pipelines.config import RebuildConfig, SourceConfig
from pipelines.source_checks import matched_files
from pipelines.stages.contract import DatasetRead, Stage, StagePlan
from pipelines.stages.planning import StageCode, planned_dataset
from transforms.ingest.records import FieldMapping
from transforms.ingest.transform import (
    DatasetSources,
    FileState,
    IngestDatasets,
    SourceSpec,
    SourcesUnchanged,
    file_states,
)
from transforms.publish import versioning
from transforms.publish.transform import DatasetOutput, Publish
from transforms.settings import settings_from

DEAD_LETTER = "dead_letter_ingest"


@dataclass(frozen=True)
class IngestPlan(StagePlan):
    # The files listed while planning are the ones fingerprinted and the ones build reads: a
    # file that appears between planning and reading cannot end up in a version that does not
    # hash it.
    files: dict[str, tuple[str, ...]]  # source name -> files
    # Size and modification time of every input file before it was hashed: checked again before
    # promote, so a file that changes during the run is never published under the old hash.
    states: tuple[FileState, ...]


def _groups(config: RebuildConfig) -> dict[str, list[SourceConfig]]:
    """Sources by the dataset they publish into, in config order."""
    groups: dict[str, list[SourceConfig]] = {}
    for source in config.sources:
        groups.setdefault(source.dataset_name, []).append(source)
    return groups


class IngestStage(Stage[IngestPlan]):
    name = "ingest"
    kinds = ("document", "judgement", "dead_letter")

    def enabled(self, config: RebuildConfig) -> bool:
        return True

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        return []

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [*_groups(config), DEAD_LETTER]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> IngestPlan:
        """One dataset per `dataset` name in the sources (splits from `split`), plus the dead
        letters; each versioned by its sources' settings and file fingerprints."""
        settings = config.stages.ingest.model_dump()
        files = {s.name: tuple(matched_files(config, s)) for s in config.sources}
        states = tuple(state for s in config.sources
                       for state in file_states(list(files[s.name]), folders=s.format == "hf"))
        fingerprints: dict[str, list[dict]] = {}
        for source in config.sources:
            fingerprint = (versioning.folder_fingerprint if source.format == "hf"
                           else versioning.file_fingerprint)
            fingerprints[source.name] = [
                {"source": source.name, **fingerprint(f), "path": config.input_name(source, f)}
                for f in files[source.name]]
        outputs = [(name, sources[0].kind, tuple(s.split for s in sources), sources)
                   for name, sources in _groups(config).items()]
        outputs.append((DEAD_LETTER, "dead_letter", ("train",), list(config.sources)))
        code = StageCode.of(self)
        planned = []
        for name, kind, splits, sources in outputs:
            section = {"ingest": settings,
                       "sources": [s.model_dump(exclude_none=True) for s in sources]}
            planned.append(planned_dataset(
                config, self, code, name, kind, section, run_id=run_id, started_at=started_at,
                num_shards=config.stages.ingest.num_shards, splits=splits,
                inputs=tuple(f for s in sources for f in fingerprints[s.name])))
        return IngestPlan(tuple(planned), files, states)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: IngestPlan) -> None:
        """Read every source, resolve duplicates per dataset, publish what is not published yet."""
        ingest = config.stages.ingest
        datasets = [
            DatasetSources(name, sources[0].kind, tuple(
                SourceSpec(name=s.name, format=s.format, files=plan.files[s.name],
                           mapping=settings_from(ingest, FieldMapping, kind=s.kind,
                                                 fields=dict(s.fields)),
                           encoding=s.encoding, csv_delimiter=s.csv_delimiter,
                           hf_split=s.hf_split, split=s.split, order=order,
                           names=tuple(config.input_name(s, f) for f in plan.files[s.name]),
                           max_bad_row_fraction=s.max_bad_row_fraction)
                for order, s in enumerate(sources)))
            for name, sources in _groups(config).items()]
        ingested = pipeline | IngestDatasets(datasets)
        outputs = [DatasetOutput(plan.spec(DEAD_LETTER), {"train": ingested["dead_letters"]},
                                 ingested["dead_letter_reasons"])]
        for group in datasets:
            outputs.append(DatasetOutput(
                plan.spec(group.dataset),
                {split: ingested[f"{group.dataset}.{split}"] for split in group.splits},
                ingested[f"{group.dataset}.drops"]))
        pipeline | Publish("ingest", plan.to_publish(outputs),
                           checks=(SourcesUnchanged(plan.states),), gates=ingested["problems"])


STAGE = IngestStage()
