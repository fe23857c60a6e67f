"""The Beam side of validation: the parts `transforms.publish.validation` merges, each computed
where the data is, none holding a whole dataset.

    staged Parquet files ─► (file, row group) ─► row-level expectations on that row group ─► sum
    rows (every split) ─► key per uniqueness expectation ─► keyed counts ─► duplicates ─► sum
"""

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.publish.validation import (
    EXAMPLES,
    ExpectationTally,
    PartValidator,
    expectation_columns,
)


def _row_groups(path):
    with FileSystems.open(path) as handle:
        groups = pq.ParquetFile(handle).num_row_groups
    return [(path, index) for index in range(groups)]


class _ValidateRowGroupFn(beam.DoFn):
    def __init__(self, expectations, name: str) -> None:
        self._expectations = expectations
        self._name = name
        self._columns = expectation_columns(expectations)

    def setup(self) -> None:
        self._validator = PartValidator(self._expectations, self._name)

    def process(self, part):
        path, index = part
        with FileSystems.open(path) as handle:
            table = pq.ParquetFile(handle).read_row_group(index, columns=self._columns)
        yield self._validator.tallies(table.to_pandas())


class _SumTalliesFn(beam.CombineFn):
    """Lists of per-expectation tallies -> their sums; `size` tallies for no input at all."""

    def __init__(self, size: int) -> None:
        self._size = size

    def create_accumulator(self):
        return [ExpectationTally() for _ in range(self._size)]

    def add_input(self, accumulator, tallies):
        return [a.add(t) for a, t in zip(accumulator, tallies, strict=True)]

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged = self.add_input(merged, accumulator)
        return merged

    def extract_output(self, accumulator):
        return accumulator


class RowGroupTallies(beam.PTransform):
    """Staged file paths -> one list of tallies, one per row-level expectation, over all files.
    A worker holds one row group (at most the writer's row-group size) at a time."""

    def __init__(self, expectations, name: str) -> None:
        super().__init__(label=f"Row checks of {name}")
        self._expectations = expectations
        self._name = name

    def expand(self, paths):
        return (paths
                | "Row groups" >> beam.FlatMap(_row_groups)
                | "Spread row groups" >> beam.Reshuffle()
                | "Check row group" >> beam.ParDo(_ValidateRowGroupFn(self._expectations,
                                                                      self._name))
                | "Sum row checks" >> beam.CombineGlobally(_SumTalliesFn(len(self._expectations))))


def _key(row, columns):  # no hints: Beam would check them against the rows' inferred type
    values = tuple(row.get(c) for c in columns)
    if all(v is None for v in values):
        return None  # Great Expectations counts such a row as missing, not as a repeat
    return values[0] if len(columns) == 1 else values


def _duplicates(keyed_count) -> ExpectationTally:
    key, count = keyed_count
    if key is None:
        return ExpectationTally(element_count=count, missing_count=count)
    if count == 1:
        return ExpectationTally(element_count=1)
    examples = [list(key) if isinstance(key, tuple) else key] * min(count, EXAMPLES)
    return ExpectationTally(success=False, element_count=count, unexpected_count=count,
                            examples=examples)


class UniquenessTally(beam.PTransform):
    """Rows -> one tally for a uniqueness expectation: every row whose value (or value tuple)
    repeats is unexpected. Decided by a keyed count, which the runner shuffles (Dataflow scales
    it); no worker holds the column."""

    def __init__(self, columns: tuple[str, ...], label: str) -> None:
        super().__init__(label=label)
        self._columns = columns

    def expand(self, rows):
        columns = self._columns
        return (rows
                | "Key" >> beam.Map(_key, columns)
                | "Count per key" >> beam.combiners.Count.PerElement()
                | "Repeats" >> beam.Map(lambda keyed: [_duplicates(keyed)])
                | "Sum" >> beam.CombineGlobally(_SumTalliesFn(1))
                | "The tally" >> beam.Map(lambda tallies: tallies[0]))
