"""Row accounting: counts that do not add up become problems that stop a publish."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.row_accounting import CheckRowBalances, RowBalance, unbalanced

BALANCES = (RowBalance("rows in the manifest", ("read",), expected=5),
            RowBalance("rows read", ("kept", "dropped"), total="read"))


def test_balanced_counts_have_no_problem():
    assert unbalanced(BALANCES, {"read": 5, "kept": 3, "dropped": 2}) == []


def test_each_unbalanced_count_is_named_with_its_terms():
    assert unbalanced(BALANCES, {"read": 4, "kept": 3}) == [
        "rows in the manifest: 5, but read 4 = 4 (+1 unaccounted for)",
        "rows read: 4, but kept 3 + dropped 0 = 3 (+1 unaccounted for)"]
    assert unbalanced(BALANCES[1:], {"read": 2, "kept": 3}) == [
        "rows read: 2, but kept 3 + dropped 0 = 3 (-1 unaccounted for)"]


def test_pipeline_counts_empty_and_full_collections():
    with TestPipeline(runner="FnApiRunner") as pipeline:
        counted = {"read": pipeline | "read" >> beam.Create(range(5)),
                   "kept": pipeline | "kept" >> beam.Create(range(3)),
                   "dropped": pipeline | "dropped" >> beam.Create([])}
        problems = pipeline | CheckRowBalances("test", counted, BALANCES)
        expected = ("test: rows do not add up (a bug, not bad input: please report it with "
                    "this run's log): rows read: 5, but kept 3 + dropped 0 = 3 (+2 unaccounted "
                    "for)")
        assert_that(problems, equal_to([expected]))
