"""The one publish path every stage uses: staging -> Great Expectations -> atomic promote.

`Publish` takes the output datasets of a stage, writes each split to a staging folder with Beam's
parquetio, computes row counts and content hashes in the same pass, validates every staged dataset,
and only if all of them pass promotes them together (manifest last, then LATEST). If any fails,
nothing is promoted, LATEST is unchanged and the validation report stays in staging.
"""

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.datasets import contract_for
from transforms.publish import store
from transforms.publish.card import class_names, features_yaml, point_latest, render_card
from transforms.publish.content import CONTENT_HASH_KIND, SummariseSplitFn
from transforms.publish.validation import (
    merged_report,
    row_expectations,
    uniqueness_expectations,
)
from transforms.publish.validation_parts import RowGroupTallies, UniquenessTally

LOG = logging.getLogger(__name__)
# Readers (Beam's parquetio included) turn a whole row group into Python objects at once; small
# row groups keep a later stage's memory flat however large the dataset grows.
ROW_GROUP_BYTES = 8 << 20


class PublishError(RuntimeError):
    """Validation failed for at least one dataset of a stage; nothing of that stage was promoted."""


@dataclass(frozen=True)
class PublishSpec:
    """Everything the manifest records about one dataset version, known before the run starts."""

    root: str
    dataset: str
    version: str
    kind: str
    stage: str
    splits: tuple[str, ...]
    run_id: str
    started_at: float
    code_version: str
    git_commit: str | None = None
    num_shards: int = 1  # 0: one file per bundle, no shuffle before the write
    config: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[dict[str, Any], ...] = ()
    parents: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    # What the dataset card says beyond the data (license, description); not part of the version.
    card: dict[str, str] = field(default_factory=dict)
    # How the run spread the work where it had a choice (e.g. which join paired records with
    # vectors); the rows do not depend on it, so it is not part of the version either.
    execution: dict[str, Any] = field(default_factory=dict)

    @property
    def staging(self) -> str:
        return store.staging_dir(self.root, self.dataset, self.version, self.run_id)

    @property
    def final(self) -> str:
        return store.version_dir(self.root, self.dataset, self.version)


@dataclass(frozen=True)
class StagedDataset:
    """A dataset written and validated in staging, waiting for the stage's promote step."""

    spec: PublishSpec
    files: tuple[str, ...]  # relative to the staging folder
    manifest: dict[str, Any]

    @property
    def valid(self) -> bool:
        return self.manifest["validation"]["success"]


@dataclass(frozen=True)
class DatasetOutput:
    """A dataset a stage wants published: its spec, one PCollection of rows per split, optionally
    a PCollection of (reason, count) for rows it dropped on the way, and attachments."""

    spec: PublishSpec
    splits: dict[str, beam.PCollection]
    drops: beam.PCollection | None = None
    # (file name, bytes) pairs stored beside the data, e.g. a chart the dataset card shows.
    attachments: beam.PCollection | None = None
    # Sentences the stage found worth a reader's attention, shown first on the card.
    warnings: beam.PCollection | None = None
    # Class names known from the config, per class column (see DatasetContract.known_classes).
    class_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # (name, JSON-able dict) pairs the stage measured while running, e.g. a trained model's
    # scores on held-out data: the manifest's `reports`.
    reports: beam.PCollection | None = None


def _relative(staging: str, path: str) -> str:
    return path[len(staging.rstrip("/")) + 1:]


class ValidateStagedFn(beam.DoFn):
    """Validates a staged dataset and prepares its manifest and card; promotes nothing."""

    def __init__(self, class_names: dict[str, tuple[str, ...]]) -> None:
        self._class_names = class_names

    # No dataclass hints on process: Beam would try to turn them into schemas.
    def process(self, spec, written, summaries, drops, attachments, warnings, row_tallies,
                unique_tallies, reports):
        contract = contract_for(spec.kind)
        staged_paths = sorted(written)
        by_split = {s.split: s for s in summaries}
        produced = sum(s.rows for s in summaries)
        in_files = sum(_file_rows(p) for p in staged_paths)
        if in_files != produced:  # a writer lost or repeated rows: never publish that
            raise PublishError(
                f"publish failed: {spec.dataset}@{spec.version}: the staged files hold "
                f"{in_files:,} rows but the stage produced {produced:,} (a bug, not bad input: "
                "please report it with this run's log); nothing was promoted")
        summary = merged_report(contract, produced, row_tallies,
                                [tally for _, tally in sorted(unique_tallies)])
        store.write_json(store.join(spec.staging, "validation.json"), summary.report)
        files = [_relative(spec.staging, p) for p in staged_paths]
        sizes = {_relative(spec.staging, p): n for p, n in _file_sizes(staged_paths).items()}
        splits = {}
        for split in spec.splits:
            names = sorted(f for f in files if f.startswith(f"data/{split}-"))
            splits[split] = {"rows": by_split[split].rows,
                             "content_hash": by_split[split].content_hash, "files": names,
                             "bytes": sum(sizes[f] for f in names),
                             "classes": by_split[split].classes}
        overall = hashlib.sha256(
            "".join(f"{s}\0{splits[s]['content_hash']}\n" for s in sorted(splits)).encode()
        ).hexdigest()
        manifest = {
            "dataset": spec.dataset, "version": spec.version, "kind": spec.kind,
            "stage": spec.stage, "run_id": spec.run_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "splits": splits, "rows": sum(s["rows"] for s in splits.values()),
            "content_hash": overall, "content_hash_kind": CONTENT_HASH_KIND,
            "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable}
                       for f in contract.schema],
            "config": spec.config, "inputs": list(spec.inputs), "parents": spec.parents,
            "code_version": spec.code_version, "git_commit": spec.git_commit,
            "seeds": spec.seeds, "models": spec.models,
            "validation": {"success": summary.success, "evaluated": summary.evaluated,
                           "failed": summary.failed},
            "drop_counts": dict(sorted(drops)),
            "attachments": sorted(attachments),
            "card": spec.card, "execution": spec.execution, "warnings": sorted(warnings),
            "reports": dict(sorted(reports)),
        }
        known = {**contract.known_classes, **self._class_names}
        manifest["features"] = features_yaml(contract.schema, class_names(manifest, known))
        store.write_text(store.join(spec.staging, "README.md"), render_card(manifest))
        yield StagedDataset(spec, (*files, *sorted(attachments), "README.md", "validation.json"),
                            manifest)


def _file_sizes(paths: list[str]) -> dict[str, int]:
    if not paths:
        return {}
    return {path: sum(m.size_in_bytes for m in result.metadata_list)
            for path, result in zip(paths, FileSystems.match(paths), strict=True)}


def _file_rows(path: str) -> int:
    """Rows of a Parquet file, from its footer."""
    with FileSystems.open(path) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def _write_attachment(attachment: tuple[str, bytes], staging: str) -> str:
    name, payload = attachment
    with FileSystems.create(store.join(staging, name)) as handle:
        handle.write(payload)
    return name


class PromoteAllFn(beam.DoFn):
    """Promotes every staged dataset of a stage, or none if any failed validation or a check
    (a callable returning a problem or None, e.g. "an input file changed") found a problem."""

    def __init__(self, checks: tuple[Callable[[], str | None], ...] = ()) -> None:
        self._checks = checks

    def process(self, staged, gated):  # list[StagedDataset], problems the stage's data found
        problems = list(gated) + [problem for check in self._checks if (problem := check())]
        if problems:
            raise PublishError("publish failed: " + "; ".join(problems)
                               + "; nothing was promoted")
        failed = [s for s in staged if not s.valid]
        if failed:
            lines = [f"{s.spec.dataset}@{s.spec.version}: {s.manifest['validation']['failed']} "
                     f"(report: {store.join(s.spec.staging, 'validation.json')})" for s in failed]
            raise PublishError("publish failed: validation did not pass, nothing was promoted; "
                               + "; ".join(lines))
        for item in sorted(staged, key=lambda s: s.spec.dataset):
            now = time.time()
            manifest = dict(item.manifest, published_at=now,
                            wall_time_s=round(now - item.spec.started_at, 2))
            store.promote(item.spec.staging, list(item.files), item.spec.final, manifest)
        for item in staged:
            point_latest(item.spec.root, item.spec.dataset, item.spec.version, item.spec.run_id)
            LOG.info("published %s@%s (%s rows) to %s", item.spec.dataset, item.spec.version,
                     f"{item.manifest['rows']:,}", item.spec.final)
            for warning in item.manifest["warnings"]:
                LOG.warning("%s@%s: warning: %s", item.spec.dataset, item.spec.version, warning)
            yield f"{item.spec.dataset}@{item.spec.version}"


class StageDataset(beam.PTransform):
    """Writes one dataset's splits to staging and validates it."""

    def __init__(self, output: DatasetOutput) -> None:
        super().__init__(label=f"Stage {output.spec.dataset}")
        self._output = output

    def expand(self, pbegin):
        spec = self._output.spec
        contract = contract_for(spec.kind)
        written, summaries = [], []
        for split in spec.splits:
            rows = self._output.splits[split]
            written.append(
                rows
                | f"Write {spec.dataset} {split} to staging" >> beam.io.WriteToParquet(
                    store.join(spec.staging, "data", split), contract.schema,
                    num_shards=spec.num_shards, shard_name_template="-SSSSS-of-NNNNN",
                    file_name_suffix=".parquet", codec="snappy",
                    row_group_buffer_size=ROW_GROUP_BYTES)
            )
            summaries.append(
                rows | f"Summarise {spec.dataset} {split}" >> beam.CombineGlobally(
                    SummariseSplitFn(split, contract.class_columns)))
        pipeline = pbegin.pipeline
        drops = self._output.drops
        if drops is None:
            drops = pipeline | f"No {spec.dataset} drops" >> beam.Create([])
        drop_counts = drops | f"Count {spec.dataset} drops" >> beam.CombinePerKey(sum)
        attachments = self._output.attachments
        if attachments is None:
            attachments = pipeline | f"No {spec.dataset} attachments" >> beam.Create([])
        attached = attachments | f"Write {spec.dataset} attachments" >> beam.Map(
            _write_attachment, spec.staging)
        warnings = self._output.warnings
        if warnings is None:
            warnings = pipeline | f"No {spec.dataset} warnings" >> beam.Create([])
        reports = self._output.reports
        if reports is None:
            reports = pipeline | f"No {spec.dataset} reports" >> beam.Create([])
        files = written | f"Staged {spec.dataset} files" >> beam.Flatten()
        row_tallies = files | RowGroupTallies(row_expectations(contract), spec.dataset)
        rows = ([self._output.splits[split] for split in spec.splits]
                | f"All {spec.dataset} rows" >> beam.Flatten())
        unique_tallies = [
            rows | UniquenessTally(tuple(e.kwargs.get("column_list") or [e.kwargs["column"]]),
                                   f"Uniqueness {index} of {spec.dataset}")
            | f"Number uniqueness {index} of {spec.dataset}" >> beam.Map(
                lambda tally, index=index: (index, tally))
            for index, e in enumerate(uniqueness_expectations(contract))]
        unique = (unique_tallies or [pipeline | f"No {spec.dataset} uniqueness" >> beam.Create(
            [])]) | f"{spec.dataset} uniqueness" >> beam.Flatten()
        return (
            pbegin
            | f"Start validating {spec.dataset}" >> beam.Create([spec])
            | f"Validate {spec.dataset}" >> beam.ParDo(
                ValidateStagedFn(self._output.class_names), beam.pvalue.AsList(files),
                beam.pvalue.AsList(summaries | f"{spec.dataset} split summaries" >> beam.Flatten()),
                beam.pvalue.AsList(drop_counts),
                beam.pvalue.AsList(attached), beam.pvalue.AsList(warnings),
                beam.pvalue.AsSingleton(row_tallies), beam.pvalue.AsList(unique),
                beam.pvalue.AsList(reports))
        )


class Publish(beam.PTransform):
    """Publishes all outputs of one stage together: every dataset valid, or none promoted."""

    def __init__(self, stage: str, outputs: list[DatasetOutput],
                 checks: tuple[Callable[[], str | None], ...] = (),
                 gates: beam.PCollection | None = None) -> None:
        """`checks` run just before the promote; `gates` is a PCollection of problems the stage
        found in its data (e.g. too many bad rows): any of either and nothing is promoted."""
        super().__init__(label=f"Publish {stage} outputs")
        self._outputs = outputs
        self._checks = checks
        self._gates = gates

    def expand(self, pbegin):
        staged = [pbegin | StageDataset(output) for output in self._outputs]
        gates = self._gates if self._gates is not None else (
            pbegin | "No gates" >> beam.Create([]))
        return (
            staged
            | "Gather staged datasets" >> beam.Flatten()
            | "List staged datasets" >> beam.combiners.ToList()
            | "Promote if all are valid" >> beam.ParDo(PromoteAllFn(self._checks),
                                                       beam.pvalue.AsList(gates))
        )
