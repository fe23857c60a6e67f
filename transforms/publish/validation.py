"""Great Expectations validation of a staged dataset against its declared contract, in parts that
never hold the whole dataset: row-level expectations run on one Parquet row group at a time, on
any worker; uniqueness is decided from Beam's keyed counts (see `transforms.publish.transform`);
the parts merge into one report shaped like Great Expectations' own. Free of Beam.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from schemas.datasets import DatasetContract, Expectation

# Decided over the whole dataset from keyed counts, not per row group.
UNIQUENESS = frozenset({"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"})
# Unexpected values a merged result keeps as examples, as Great Expectations' partial lists do.
EXAMPLES = 20


@dataclass(frozen=True)
class ValidationSummary:
    success: bool
    evaluated: int
    failed: list[str]
    report: dict[str, Any]


@dataclass
class ExpectationTally:
    """What one expectation found in part of a dataset; tallies of parts add up."""

    success: bool = True
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)

    def add(self, other: "ExpectationTally") -> "ExpectationTally":
        return ExpectationTally(
            self.success and other.success, self.element_count + other.element_count,
            self.missing_count + other.missing_count,
            self.unexpected_count + other.unexpected_count,
            sorted(self.examples + other.examples, key=repr)[:EXAMPLES])


def row_expectations(contract: DatasetContract) -> list[Expectation]:
    return [e for e in contract.expectations if e.type not in UNIQUENESS]


def uniqueness_expectations(contract: DatasetContract) -> list[Expectation]:
    return [e for e in contract.expectations if e.type in UNIQUENESS]


def expectation_columns(expectations: list[Expectation]) -> list[str]:
    """The columns a list of expectations looks at, in first-use order."""
    columns: list[str] = []
    for expectation in expectations:
        for name in [expectation.kwargs.get("column"), *expectation.kwargs.get("column_list", [])]:
            if name and name not in columns:
                columns.append(name)
    return columns


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Worker processes log at INFO; a context logs a dozen INFO lines that would bury progress.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # That module pins its logger to INFO and announces a temp folder on every context.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return gx, context


class PartValidator:
    """Runs row-level expectations on parts of a dataset (one Great Expectations context, made
    once per worker)."""

    def __init__(self, expectations: list[Expectation], name: str) -> None:
        self._gx, context = _context()
        self._expectations = expectations
        self._asset = context.data_sources.add_pandas("refinery").add_dataframe_asset(name)
        self._batches = self._asset.add_batch_definition_whole_dataframe("part")
        self._suite = self._gx.ExpectationSuite(name=f"{name}_rows")
        for index, e in enumerate(expectations):  # `meta` finds each one's result again
            self._suite.add_expectation(getattr(self._gx.expectations, e.type)(
                **e.kwargs, meta={"refinery_index": index}))

    def tallies(self, frame: pd.DataFrame) -> list[ExpectationTally]:
        """One tally per expectation, in the contract's order."""
        if frame.empty or not self._expectations:
            return [ExpectationTally() for _ in self._expectations]
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        report = batch.validate(self._suite).to_json_dict()
        by_index = {r["expectation_config"]["meta"]["refinery_index"]: r
                    for r in report["results"]}
        tallies = []
        for index in range(len(self._expectations)):
            result = by_index[index]
            detail = result.get("result", {})
            tallies.append(ExpectationTally(
                result["success"], int(detail.get("element_count", len(frame))),
                int(detail.get("missing_count") or 0), int(detail.get("unexpected_count") or 0),
                sorted(detail.get("partial_unexpected_list", []), key=repr)[:EXAMPLES]))
        return tallies


def _type_name(class_name: str) -> str:
    """`ExpectColumnValuesToNotBeNull` -> `expect_column_values_to_not_be_null`."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in class_name).lstrip("_")


def _describe_failure(result: dict[str, Any]) -> str:
    config = result["expectation_config"]
    kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
    detail = result.get("result", {})
    count = detail.get("unexpected_count")
    examples = detail.get("partial_unexpected_list", [])[:3]
    suffix = f": {count} unexpected, e.g. {examples}" if count is not None else ""
    return f"{config['type']}({kwargs}){suffix}"


def merged_report(contract: DatasetContract, rows: int, row_tallies: list[ExpectationTally],
                  unique_tallies: list[ExpectationTally]) -> ValidationSummary:
    """One report over the whole dataset (all splits together), shaped like a Great Expectations
    validation result: per expectation its config, success and counts with example values."""
    tallies = iter(row_tallies)
    unique = iter(unique_tallies)
    results = []
    for expectation in contract.expectations:
        tally = next(unique) if expectation.type in UNIQUENESS else next(tallies)
        counted = tally.element_count - tally.missing_count
        results.append({
            "expectation_config": {"type": _type_name(expectation.type),
                                   "kwargs": dict(expectation.kwargs)},
            "success": tally.success and tally.unexpected_count == 0,
            "result": {"element_count": tally.element_count,
                       "missing_count": tally.missing_count,
                       "unexpected_count": tally.unexpected_count,
                       "unexpected_percent": (100.0 * tally.unexpected_count / counted
                                              if counted else 0.0),
                       "partial_unexpected_list": tally.examples},
        })
    passed = sum(r["success"] for r in results)
    report = {"success": passed == len(results), "results": results,
              "statistics": {"evaluated_expectations": len(results),
                             "successful_expectations": passed,
                             "unsuccessful_expectations": len(results) - passed,
                             "success_percent": 100.0 * passed / len(results) if results
                             else 100.0},
              "meta": {"rows": rows, "validated": "per Parquet row group; uniqueness from "
                                                  "keyed counts over every split"}}
    failed = [_describe_failure(r) for r in results if not r["success"]]
    return ValidationSummary(report["success"], len(results), failed, report)
