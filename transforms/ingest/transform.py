"""Beam wiring for ingest: list files -> read rows -> map fields -> resolve duplicate ids."""

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsSingleton

from transforms.dead_letters import Rejected, dead_letter_row, reason_count
from transforms.ingest import readers
from transforms.ingest.records import (
    FieldMapping,
    Located,
    dedup_key,
    resolve_duplicates,
    to_record,
)
from transforms.progress import ProgressLog

DEAD_LETTER = "dead_letter"
DROPS = "drops"


@dataclass(frozen=True)
class SourceSpec:
    """What ingest needs to know about one configured source."""

    name: str
    format: str
    files: tuple[str, ...]
    mapping: FieldMapping
    encoding: str = "utf-8"
    csv_delimiter: str = ","
    hf_split: str | None = None
    split: str = "train"
    order: int = 0  # position among the sources of its dataset: earlier wins a duplicate
    # How rows and dead letters name each file (e.g. relative to the config); default: its path.
    names: tuple[str, ...] = ()
    # More of the rows read going to dead letter than this fails the stage (1.0: never).
    max_bad_row_fraction: float = 1.0

    def name_of(self, path: str) -> str:
        return dict(zip(self.files, self.names)).get(path, path)


class ReadSourceRowsFn(beam.DoFn):
    """Reads every row of one source file; unparseable rows go to the dead-letter output."""

    def __init__(self, spec: SourceSpec, progress_every_s: float = 10.0) -> None:
        self._spec = spec
        self._progress_every_s = progress_every_s
        self._rows = Metrics.counter("ingest", f"{spec.name}.rows_read")

    def process(self, path: str):
        spec = self._spec
        name = spec.name_of(path)
        progress = ProgressLog(f"ingest {spec.name} ({name})", "rows read",
                               self._progress_every_s)
        for item in self._read(path, name):
            if isinstance(item, Rejected):
                Metrics.counter("ingest", f"{spec.name}.{item.reason}").inc()
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row("ingest", spec.name, item))
                continue
            self._rows.inc()
            progress.add()
            yield item
        progress.finish()

    def _read(self, path: str, name: str):
        spec = self._spec
        if spec.format == "hf":
            yield from readers.read_hf_dataset(path, spec.hf_split, name)
            return
        with FileSystems.open(path) as stream:
            if spec.format == "jsonl":
                yield from readers.read_jsonl(stream, name, spec.encoding)
            elif spec.format == "csv":
                yield from readers.read_csv(stream, name, spec.encoding, spec.csv_delimiter,
                                            field_limit=spec.mapping.max_text_length)
            elif spec.format == "parquet":
                yield from readers.read_parquet(stream, name)
            else:
                raise ValueError(f"unknown format {spec.format!r}; known: {readers.FORMATS}")


class MapFieldsFn(beam.DoFn):
    """Turns a parsed row into a canonical record keyed for duplicate resolution."""

    def __init__(self, spec: SourceSpec) -> None:
        self._spec = spec

    def process(self, row: readers.RawRow):
        result = to_record(row, self._spec.mapping)
        if isinstance(result, Rejected):
            Metrics.counter("ingest", f"{self._spec.name}.{result.reason}").inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER, dead_letter_row("ingest", self._spec.name, result))
            return
        spec = self._spec
        yield dedup_key(result, spec.mapping.kind), Located(
            result, row.file, row.row, spec.name, spec.order, spec.split)


class ResolveDuplicatesFn(beam.DoFn):
    """One record per key: the first wins, conflicting repeats go to dead letter."""

    def __init__(self, kind: str) -> None:
        self._field = "id" if kind == "document" else "query,doc_id"

    def process(self, keyed):  # (key, Iterable[Located])
        key, located = keyed
        resolved = resolve_duplicates(key, list(located), self._field)
        yield resolved.kept
        for source, conflict in resolved.conflicts:
            Metrics.counter("ingest", f"{source}.{conflict.reason}").inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row("ingest", source, conflict))
        if resolved.exact_duplicates:
            Metrics.counter("ingest", f"{resolved.kept.source}.duplicate_exact").inc(
                resolved.exact_duplicates)
            yield beam.pvalue.TaggedOutput(DROPS, ("duplicate_exact", resolved.exact_duplicates))


class IngestSource(beam.PTransform):
    """Reads one source into canonical records keyed for duplicate resolution; no good row is
    lost because a neighbour is bad.

    Outputs a dict: `keyed` ((key, Located) pairs), `dead_letters` (dead-letter schema rows) and
    `problems` (one message when more than `max_bad_row_fraction` of the rows read went to dead
    letter: a gate for the publish step).
    """

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(label=f"Ingest {spec.name}")
        self._spec = spec

    def expand(self, pbegin):
        spec = self._spec
        read = (
            pbegin
            | f"List {spec.name} files" >> beam.Create(list(spec.files))
            | f"Read {spec.name} rows" >> beam.ParDo(ReadSourceRowsFn(spec)).with_outputs(
                DEAD_LETTER, main="rows")
        )
        mapped = (
            read.rows
            | f"Spread {spec.name} rows" >> beam.Reshuffle()
            | f"Map {spec.name} fields" >> beam.ParDo(MapFieldsFn(spec)).with_outputs(
                DEAD_LETTER, main="keyed")
        )
        dead_letters = ((read[DEAD_LETTER], mapped[DEAD_LETTER])
                        | f"Collect {spec.name} dead letters" >> beam.Flatten())
        seen = ((read.rows | f"One per {spec.name} row" >> beam.Map(lambda _: 1),
                 read[DEAD_LETTER] | f"One per unread {spec.name} row" >> beam.Map(lambda _: 1))
                | f"All {spec.name} rows" >> beam.Flatten()
                | f"Count {spec.name} rows" >> beam.CombineGlobally(sum))
        bad = (dead_letters | f"One per {spec.name} dead letter" >> beam.Map(lambda _: 1)
               | f"Count {spec.name} dead letters" >> beam.CombineGlobally(sum))
        problems = (pbegin
                    | f"Check {spec.name} bad rows" >> beam.Create([None])
                    | f"Too many bad {spec.name} rows" >> beam.FlatMap(
                        _too_many_bad_rows, AsSingleton(seen), AsSingleton(bad), spec.name,
                        spec.max_bad_row_fraction))
        return {"keyed": mapped.keyed, "dead_letters": dead_letters, "problems": problems}


def _too_many_bad_rows(_, seen: int, bad: int, source: str, limit: float):
    if seen and bad / seen > limit:
        yield (f"source {source}: {bad:,} of {seen:,} rows read ({bad / seen:.0%}) went to dead "
               f"letter, more than its max_bad_row_fraction {limit:g}; the input is probably not "
               "what the config says (format, fields, encoding)")


class DeduplicateDataset(beam.PTransform):
    """Resolves duplicate ids across all sources of one dataset and routes records to splits.

    Input: a tuple of the `keyed` outputs of the dataset's sources (a tuple: Beam reads a list
    as data to create). Outputs a dict: `records.<split>` for
    each split, `dead_letters` (conflicts) and `drops` (("duplicate_exact", n) pairs).
    """

    def __init__(self, dataset: str, kind: str, splits: tuple[str, ...]) -> None:
        super().__init__(label=f"Deduplicate {dataset}")
        self._dataset = dataset
        self._kind = kind
        self._splits = splits

    def expand(self, keyed_per_source):
        name, splits = self._dataset, self._splits
        resolved = (
            tuple(keyed_per_source)
            | f"All {name} records" >> beam.Flatten()
            | f"Group {name} by id" >> beam.GroupByKey()
            | f"Resolve {name} duplicates" >> beam.ParDo(
                ResolveDuplicatesFn(self._kind)).with_outputs(DEAD_LETTER, DROPS, main="kept")
        )
        by_split = resolved.kept | f"Route {name} to splits" >> beam.Partition(
            lambda located, _: splits.index(located.split), len(splits))
        outputs = {f"records.{split}": by_split[index] | f"{name} {split} records" >> beam.Map(
            lambda located: located.record) for index, split in enumerate(splits)}
        return {**outputs, "dead_letters": resolved[DEAD_LETTER], "drops": resolved[DROPS]}


@dataclass(frozen=True)
class DatasetSources:
    """The sources that publish into one dataset, in config order (earlier wins a duplicate)."""

    dataset: str
    kind: str
    sources: tuple[SourceSpec, ...]

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(source.split for source in self.sources)



class IngestDatasets(beam.PTransform):
    """Every source read, mapped and deduplicated into its dataset and split.

    Output dict, per dataset `<name>`: `<name>.<split>` (records) and `<name>.drops` ((reason, n)
    pairs: its sources' dead letters and exact duplicates); `dead_letters` (every rejected row
    of every source) with `dead_letter_reasons`; `problems` (sources with too many bad rows).
    """

    def __init__(self, datasets: list[DatasetSources]) -> None:
        super().__init__(label="Ingest sources")
        self._datasets = datasets

    def expand(self, pbegin):
        outputs: dict[str, beam.PCollection] = {}
        every_dead, problems = [], []
        for group in self._datasets:
            name = group.dataset
            ingested = [pbegin | IngestSource(source) for source in group.sources]
            problems += [i["problems"] for i in ingested]
            deduplicated = tuple(i["keyed"] for i in ingested) | DeduplicateDataset(
                name, group.kind, group.splits)
            dead = [i["dead_letters"] for i in ingested] + [deduplicated["dead_letters"]]
            every_dead += dead
            outputs[f"{name}.drops"] = (
                [dead | f"Gather {name} dead letters" >> beam.Flatten()
                 | f"Key {name} dead letters by reason" >> beam.Map(reason_count),
                 deduplicated["drops"]]
                | f"Gather {name} drops" >> beam.Flatten())
            for split in group.splits:
                outputs[f"{name}.{split}"] = deduplicated[f"records.{split}"]
        dead_letters = every_dead | "Gather ingest dead letters" >> beam.Flatten()
        return {**outputs, "dead_letters": dead_letters,
                "problems": problems | "All ingest problems" >> beam.Flatten(),
                "dead_letter_reasons": dead_letters
                | "Key ingest dead letters by reason" >> beam.Map(reason_count)}


@dataclass(frozen=True)
class FileState:
    """What a source file looked like when its version was planned."""

    path: str
    bytes: int
    modified: float


def file_states(paths: list[str], folders: bool = False) -> tuple[FileState, ...]:
    """Size and modification time of every file; with `folders`, of every file under each
    (saved-dataset) folder."""
    patterns = [FileSystems.join(path, "**") if folders else path for path in paths]
    states = [FileState(metadata.path, metadata.size_in_bytes, metadata.last_updated_in_seconds)
              for result in FileSystems.match(patterns) for metadata in result.metadata_list]
    return tuple(sorted(states, key=lambda state: state.path))


@dataclass(frozen=True)
class SourcesUnchanged:
    """A publish check: the source files are as they were when the version was planned (and
    hashed). A file rewritten during the run would publish rows of bytes the version never
    hashed; even one changed and restored has a new modification time."""

    planned: tuple[FileState, ...]

    def __call__(self) -> str | None:
        now = {state.path: state for state in file_states([s.path for s in self.planned])}
        changed = [state.path for state in self.planned if now.get(state.path) != state]
        if changed:
            return (f"{len(changed)} source file(s) changed while the run read them, e.g. "
                    f"{changed[0]}; rerun once they are stable")
        return None
