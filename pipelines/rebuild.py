"""The rebuild graph: plan each stage's output versions, skip what is already published, run the
rest as one Beam pipeline per stage, and report what was published where."""

import logging
import time
import uuid
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.config import RebuildConfig, SourceConfig, matched_files
from pipelines.runner import pipeline_options
from transforms.ingest.records import FieldMapping
from transforms.ingest.transform import IngestSource, SourceSpec
from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec

LOG = logging.getLogger(__name__)
DEAD_LETTER_INGEST = "dead_letter_ingest"


@dataclass(frozen=True)
class PlannedDataset:
    spec: PublishSpec
    sources: tuple[SourceConfig, ...]
    unchanged: bool


@dataclass(frozen=True)
class PublishedDataset:
    """One row of the summary printed at the end of a rebuild."""

    stage: str
    dataset: str
    version: str
    status: str  # "published" or "unchanged"
    rows: int
    path: str


def _source_spec(config: RebuildConfig, source: SourceConfig) -> SourceSpec:
    ingest = config.stages.ingest
    mapping = FieldMapping(kind=source.kind, fields=dict(source.fields),
                           max_text_length=ingest.max_text_length,
                           keep_unmapped_as_metadata=ingest.keep_unmapped_as_metadata)
    return SourceSpec(name=source.name, format=source.format,
                      files=tuple(matched_files(config, source)), mapping=mapping,
                      encoding=source.encoding, csv_delimiter=source.csv_delimiter,
                      hf_split=source.hf_split)


def plan_ingest(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
    """One dataset per `dataset` name in the sources (splits from `split`), plus the dead letters."""
    code = versioning.code_version()
    commit = versioning.git_commit()
    settings = config.stages.ingest.model_dump()
    fingerprints: dict[str, list[dict]] = {}
    for source in config.sources:
        files = matched_files(config, source)
        fingerprint = (versioning.folder_fingerprint if source.format == "hf"
                       else versioning.file_fingerprint)
        fingerprints[source.name] = [fingerprint(f) for f in files]
    groups: dict[str, list[SourceConfig]] = {}
    for source in config.sources:
        groups.setdefault(source.dataset_name, []).append(source)
    outputs = [(name, sources[0].kind, tuple(s.split for s in sources), sources)
               for name, sources in groups.items()]
    outputs.append((DEAD_LETTER_INGEST, "dead_letter", ("train",), list(config.sources)))
    planned = []
    for name, kind, splits, sources in outputs:
        section = {"ingest": settings,
                   "sources": [s.model_dump(exclude_none=True) for s in sources]}
        inputs = tuple(f for s in sources for f in fingerprints[s.name])
        version = versioning.version_id(name, "ingest", section, list(inputs), {}, code)
        spec = PublishSpec(root=config.root, dataset=name, version=version, kind=kind,
                           stage="ingest", splits=splits, run_id=run_id, started_at=started_at,
                           code_version=code, git_commit=commit,
                           num_shards=config.stages.ingest.num_shards, config=section,
                           inputs=inputs, seeds={"seed": config.seed})
        planned.append(PlannedDataset(spec, tuple(sources),
                                      store.is_published(config.root, name, version)))
    return planned


def build_ingest(pipeline: beam.Pipeline, config: RebuildConfig,
                 planned: list[PlannedDataset]) -> None:
    """Read every source, publish the datasets whose version is not published yet."""
    ingested = {s.name: pipeline | IngestSource(_source_spec(config, s)) for s in config.sources}
    outputs = []
    for item in planned:
        if item.unchanged:
            continue
        if item.spec.kind == "dead_letter":
            rows = ([ingested[s.name]["dead_letters"] for s in item.sources]
                    | "Gather ingest dead letters" >> beam.Flatten())
            drops = (rows | "Key dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1)))
            outputs.append(DatasetOutput(item.spec, {"train": rows}, drops))
            continue
        label = item.spec.dataset
        dead = ([ingested[s.name]["dead_letters"] for s in item.sources]
                | f"Gather {label} dead letters" >> beam.Flatten()
                | f"Key {label} dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1)))
        drops = ([dead, *(ingested[s.name]["drops"] for s in item.sources)]
                 | f"Gather {label} drops" >> beam.Flatten())
        splits = {s.split: ingested[s.name]["records"] for s in item.sources}
        outputs.append(DatasetOutput(item.spec, splits, drops))
    pipeline | Publish("ingest", outputs)


# Stage name -> (plan its output versions, add its transforms to a pipeline), in run order.
STAGES = {"ingest": (plan_ingest, build_ingest)}


def _summary(planned: list[PlannedDataset]) -> list[PublishedDataset]:
    rows = []
    for item in planned:
        spec = item.spec
        manifest = store.read_manifest(spec.root, spec.dataset, spec.version)
        rows.append(PublishedDataset(spec.stage, spec.dataset, spec.version,
                                     "unchanged" if item.unchanged else "published",
                                     manifest["rows"], spec.final))
    return rows


def _log_counters(stage: str, result: beam.runners.runner.PipelineResult) -> None:
    """The stage's Beam counters (rows read, rows per drop reason) as one log line."""
    counters = result.metrics().query(MetricsFilter().with_namespace(stage))["counters"]
    totals: dict[str, int] = {}
    for counter in counters:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    if totals:
        LOG.info("%s counters: %s", stage,
                 ", ".join(f"{name}={value:,}" for name, value in sorted(totals.items())))


def rebuild(config: RebuildConfig, stage: str | None = None,
            beam_args: list[str] | None = None) -> list[PublishedDataset]:
    """Run the configured stages (or one), skipping datasets whose version is published."""
    run_id = uuid.uuid4().hex[:8]
    started_at = time.time()
    summary: list[PublishedDataset] = []
    for name in [stage] if stage else list(STAGES):
        plan, build = STAGES[name]
        planned = plan(config, run_id, started_at)
        if all(item.unchanged for item in planned):
            LOG.info("%s: inputs, config and code unchanged; %d dataset(s) already published, "
                     "nothing to do", name, len(planned))
        else:
            LOG.info("%s: building %s", name,
                     ", ".join(f"{p.spec.dataset}@{p.spec.version}" for p in planned
                               if not p.unchanged))
            pipeline = beam.Pipeline(options=pipeline_options(beam_args or []))
            build(pipeline, config, planned)
            result = pipeline.run()
            result.wait_until_finish()
            _log_counters(name, result)
        for item in planned:  # a rebuild makes its versions current, including unchanged ones
            if store.latest_version(config.root, item.spec.dataset) != item.spec.version:
                store.set_latest(config.root, item.spec.dataset, item.spec.version, run_id)
        summary += _summary(planned)
    return summary
