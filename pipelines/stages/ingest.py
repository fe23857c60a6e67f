"""Ingest stage: every source into its dataset and split, bad rows into `dead_letter_ingest`."""

import apache_beam as beam

from pipelines.config import RebuildConfig, SourceConfig, matched_files
from pipelines.stages.common import PlannedDataset
from transforms.ingest.records import FieldMapping
from transforms.ingest.transform import DeduplicateDataset, IngestSource, SourceSpec
from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish, PublishSpec

DEAD_LETTER = "dead_letter_ingest"


def _source_spec(config: RebuildConfig, source: SourceConfig, order: int,
                 files: tuple[str, ...]) -> SourceSpec:
    ingest = config.stages.ingest
    mapping = FieldMapping(kind=source.kind, fields=dict(source.fields),
                           max_text_length=ingest.max_text_length,
                           keep_unmapped_as_metadata=ingest.keep_unmapped_as_metadata)
    return SourceSpec(name=source.name, format=source.format,
                      files=files, mapping=mapping,
                      encoding=source.encoding, csv_delimiter=source.csv_delimiter,
                      hf_split=source.hf_split, split=source.split, order=order)


def plan(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
    """One dataset per `dataset` name in the sources (splits from `split`), plus the dead letters."""
    code = versioning.code_version(__name__)
    commit = versioning.git_commit()
    settings = config.stages.ingest.model_dump()
    # The files listed here are the ones fingerprinted and the ones build reads: a file that
    # appears between planning and reading cannot end up in a version that does not hash it.
    files = {s.name: tuple(matched_files(config, s)) for s in config.sources}
    fingerprints: dict[str, list[dict]] = {}
    for source in config.sources:
        fingerprint = (versioning.folder_fingerprint if source.format == "hf"
                       else versioning.file_fingerprint)
        fingerprints[source.name] = [{"source": source.name, **fingerprint(f)}
                                     for f in files[source.name]]
    outputs = [(name, sources[0].kind, tuple(s.split for s in sources), sources)
               for name, sources in _groups(config).items()]
    outputs.append((DEAD_LETTER, "dead_letter", ("train",), list(config.sources)))
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
        planned.append(PlannedDataset(spec, store.is_published(config.root, name, version),
                                      tuple(files.items())))
    return planned


def _groups(config: RebuildConfig) -> dict[str, list[SourceConfig]]:
    """Sources by the dataset they publish into, in config order."""
    groups: dict[str, list[SourceConfig]] = {}
    for source in config.sources:
        groups.setdefault(source.dataset_name, []).append(source)
    return groups


def build(pipeline: beam.Pipeline, config: RebuildConfig, planned: list[PlannedDataset]) -> None:
    """Read every source, resolve duplicates per dataset, publish what is not published yet."""
    groups = _groups(config)
    files = dict(planned[0].context)
    ingested = {s.name: pipeline | IngestSource(
                    _source_spec(config, s, sources.index(s), files[s.name]))
                for sources in groups.values() for s in sources}
    deduplicated = {
        name: tuple(ingested[s.name]["keyed"] for s in sources) | DeduplicateDataset(
            name, sources[0].kind, tuple(s.split for s in sources))
        for name, sources in groups.items()
    }
    dead = ([ingested[s.name]["dead_letters"] for s in config.sources]
            + [d["dead_letters"] for d in deduplicated.values()])
    outputs = []
    for item in planned:
        if item.unchanged:
            continue
        name = item.spec.dataset
        if item.spec.kind == "dead_letter":
            rows = dead | "Gather ingest dead letters" >> beam.Flatten()
            reasons = rows | "Key ingest dead letters by reason" >> beam.Map(
                lambda row: (row["reason"], 1))
            outputs.append(DatasetOutput(item.spec, {"train": rows}, reasons))
            continue
        sources = {s.name for s in groups[name]}
        own_dead = ([ingested[s]["dead_letters"] for s in sorted(sources)]
                    + [deduplicated[name]["dead_letters"]])
        drops = ([own_dead | f"Gather {name} dead letters" >> beam.Flatten()
                  | f"Key {name} dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1)),
                  deduplicated[name]["drops"]]
                 | f"Gather {name} drops" >> beam.Flatten())
        splits = {split: deduplicated[name][f"records.{split}"] for split in item.spec.splits}
        outputs.append(DatasetOutput(item.spec, splits, drops))
    pipeline | Publish("ingest", outputs)


def enabled(config: RebuildConfig) -> bool:
    return True


def reads(config: RebuildConfig) -> list[tuple[str, str]]:
    return []


def outputs(config: RebuildConfig) -> list[str]:
    return [*_groups(config), DEAD_LETTER]
