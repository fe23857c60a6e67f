"""The rebuild graph: for each stage in order, plan its output versions, skip what is already
published, run the rest as one Beam pipeline, and report what was published where.

Stages run one after another; a stage reads the LATEST versions its predecessors just published.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from types import ModuleType

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.config import RebuildConfig
from pipelines.runner import pipeline_options
from pipelines.stages import distill, embed, ingest, prune, qgen
from pipelines.stages.common import PlanError, PlannedDataset
from transforms.publish import store

LOG = logging.getLogger(__name__)

# In run order. Each module has plan(config, run_id, started_at), build(pipeline, config, planned),
# enabled(config), and reads(config) / outputs(config): the datasets it reads (with the config key
# naming each) and publishes.
STAGES: dict[str, ModuleType] = {
    "ingest": ingest, "embed": embed, "prune": prune, "distill": distill, "qgen": qgen}


@dataclass(frozen=True)
class PublishedDataset:
    """One row of the summary printed at the end of a rebuild."""

    stage: str
    dataset: str
    version: str
    status: str  # "published" or "unchanged"
    rows: int
    path: str


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


def check_dataset_names(config: RebuildConfig, stages: list[str]) -> None:
    """Every dataset a stage reads is a source's, another stage's that runs before it, or already
    published under the root: a misspelt name fails here, before ingest publishes anything."""
    known = {name for module in STAGES.values() if module.enabled(config)
             for name in module.outputs(config)}
    available: set[str] = set()
    for name, module in STAGES.items():
        if not module.enabled(config):
            continue
        reads = module.reads(config) if name in stages else []
        for key, dataset in reads:
            if dataset in available or store.latest_version(config.root, dataset):
                continue
            later = " (made by a later stage)" if dataset in known else ""
            raise PlanError(f"{key}: dataset {dataset!r}{later} is not published under "
                            f"{config.root} and no earlier stage of this config makes it; "
                            f"the config's datasets: {', '.join(sorted(known))}")
        available.update(module.outputs(config))


def stages_to_run(config: RebuildConfig, stage: str | None) -> list[str]:
    if stage is not None:
        return [stage]
    return [name for name, module in STAGES.items() if module.enabled(config)]


def rebuild(config: RebuildConfig, stage: str | None = None,
            beam_args: list[str] | None = None) -> list[PublishedDataset]:
    """Run the configured stages (or one), skipping datasets whose version is published."""
    run_id = uuid.uuid4().hex[:8]
    summary: list[PublishedDataset] = []
    stages = stages_to_run(config, stage)
    check_dataset_names(config, stages)
    for name in stages:
        module = STAGES[name]
        planned = module.plan(config, run_id, time.time())
        if all(item.unchanged for item in planned):
            LOG.info("%s: inputs, config and code unchanged; %d dataset(s) already published, "
                     "nothing to do", name, len(planned))
        else:
            LOG.info("%s: building %s", name,
                     ", ".join(f"{p.spec.dataset}@{p.spec.version}" for p in planned
                               if not p.unchanged))
            pipeline = beam.Pipeline(options=pipeline_options(beam_args or []))
            module.build(pipeline, config, planned)
            result = pipeline.run()
            result.wait_until_finish()
            _log_counters(name, result)
        for item in planned:  # a rebuild makes its versions current, including unchanged ones
            if store.latest_version(config.root, item.spec.dataset) != item.spec.version:
                store.set_latest(config.root, item.spec.dataset, item.spec.version, run_id)
        summary += _summary(planned)
    return summary
