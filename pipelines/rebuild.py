"""The rebuild graph: for each stage in order, plan its output versions, skip what is already
published, run the rest as one Beam pipeline, and report what was published where.

Stages run one after another; a stage reads the LATEST versions its predecessors just published.
"""

import logging
import time
import uuid
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter

from pipelines.config import RebuildConfig
from pipelines.runner import pipeline_options
from pipelines.stages import STAGES
from pipelines.stages.contract import PlanError, PlannedDataset
from transforms.publish import card, store

LOG = logging.getLogger(__name__)

@dataclass(frozen=True)
class PublishedDataset:
    """One row of the summary printed at the end of a rebuild."""

    stage: str
    dataset: str
    version: str
    # "published"; "unchanged"; "re-pointed": already published, and LATEST moved back to it
    status: str
    rows: int
    path: str


def _summary(planned: tuple[PlannedDataset, ...], repointed: set[str]) -> list[PublishedDataset]:
    rows = []
    for item in planned:
        spec = item.spec
        manifest = store.read_manifest(spec.root, spec.dataset, spec.version)
        status = ("published" if not item.unchanged else
                  "re-pointed" if spec.dataset in repointed else "unchanged")
        rows.append(PublishedDataset(spec.stage, spec.dataset, spec.version, status,
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


class LaterStageFailed(RuntimeError):
    """A stage failed (its plan or its run) after earlier stages of the same rebuild published:
    those stay published and current; the failing stage published nothing."""

    def __init__(self, stage: str, published: list[PublishedDataset], cause: Exception) -> None:
        earlier = sorted({row.stage for row in published if row.status == "published"})
        super().__init__(f"stage {stage} failed after {', '.join(earlier)} published: {cause}")
        self.stage = stage
        self.published = published
        self.cause = cause


def check_dataset_names(config: RebuildConfig, stages: list[str]) -> None:
    """Every dataset a stage reads is a source's, another stage's that runs before it, or already
    published under the root: a misspelt name fails here, before ingest publishes anything."""
    known = {name for stage in STAGES.values() if stage.enabled(config)
             for name in stage.publishes(config)}
    available: set[str] = set()
    for name, stage in STAGES.items():
        if not stage.enabled(config):
            continue
        for read in stage.reads(config) if name in stages else []:
            if read.dataset in available or store.latest_version(config.root, read.dataset):
                continue
            later = " (made by a later stage)" if read.dataset in known else ""
            raise PlanError(f"{read.key}: dataset {read.dataset!r}{later} is not published under "
                            f"{config.root} and no earlier stage of this config makes it; "
                            f"the config's datasets: {', '.join(sorted(known))}")
        available.update(stage.publishes(config))


def stages_to_run(config: RebuildConfig, only: str | None) -> list[str]:
    if only is not None:
        return [only]
    return [name for name, stage in STAGES.items() if stage.enabled(config)]


def rebuild(config: RebuildConfig, only: str | None = None,
            beam_args: list[str] | None = None) -> list[PublishedDataset]:
    """Run the configured stages (or only one), skipping datasets whose version is published."""
    run_id = uuid.uuid4().hex[:8]
    # Planning and promoting read the root from here: with the flags' filesystem options
    # (an S3 endpoint and keys, a GCP project), as the pipeline's workers do.
    FileSystems.set_options(pipeline_options(beam_args or []))
    summary: list[PublishedDataset] = []
    names = stages_to_run(config, only)
    check_dataset_names(config, names)
    for name in names:
        try:
            summary += _run_stage(config, name, run_id, beam_args)
        except Exception as error:
            if any(row.status == "published" for row in summary):
                raise LaterStageFailed(name, summary, error) from error
            raise
    return summary


def _run_stage(config: RebuildConfig, name: str, run_id: str,
               beam_args: list[str] | None) -> list[PublishedDataset]:
    """Plan one stage; build it unless all its versions are published; make them current."""
    stage = STAGES[name]
    plan = stage.plan(config, run_id, time.time())
    if plan.unchanged:
        LOG.info("%s: inputs, config and code unchanged; %d dataset(s) already published, "
                 "nothing to do", name, len(plan.datasets))
    else:
        LOG.info("%s: building %s", name,
                 ", ".join(f"{p.spec.dataset}@{p.spec.version}" for p in plan.datasets
                           if not p.unchanged))
        pipeline = beam.Pipeline(options=pipeline_options(beam_args or []))
        stage.build(pipeline, config, plan)
        result = pipeline.run()
        result.wait_until_finish()
        _log_counters(name, result)
    repointed = set()
    for item in plan.datasets:  # a rebuild makes its versions current, unchanged ones too
        if store.latest_version(config.root, item.spec.dataset) != item.spec.version:
            store.set_latest(config.root, item.spec.dataset, item.spec.version, run_id)
            if item.unchanged:
                repointed.add(item.spec.dataset)
                LOG.warning("%s: LATEST re-pointed to %s@%s, which was already published",
                            name, item.spec.dataset, item.spec.version)
        # follows LATEST; also puts right one left stale by a crash, a hand edit or a release
        card.refresh_index(config.root, item.spec.dataset, run_id)
    store.record_stage_run(config.root, name, run_id,
                           {item.spec.dataset: item.spec.version for item in plan.datasets})
    return _summary(plan.datasets, repointed)
