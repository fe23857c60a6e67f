"""Great Expectations validation of a staged dataset against its declared contract."""

import logging
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from schemas.datasets import DatasetContract


@dataclass(frozen=True)
class ValidationSummary:
    success: bool
    evaluated: int
    failed: list[str]
    report: dict[str, Any]


def _describe_failure(result: dict[str, Any]) -> str:
    config = result["expectation_config"]
    kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
    detail = result.get("result", {})
    count = detail.get("unexpected_count")
    examples = detail.get("partial_unexpected_list", [])[:3]
    suffix = f": {count} unexpected, e.g. {examples}" if count is not None else ""
    return f"{config['type']}({kwargs}){suffix}"


def validate_frame(frame: pd.DataFrame, contract: DatasetContract, name: str) -> ValidationSummary:
    """Run the contract's expectations over the whole staged dataset (all splits together)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Worker processes log at INFO; a context logs a dozen INFO lines that would bury progress.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # That module pins its logger to INFO and announces a temp folder on every context.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("refinery")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("staged")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=f"{contract.kind}_contract")
    for expectation in contract.expectations:
        suite.add_expectation(getattr(gx.expectations, expectation.type)(**expectation.kwargs))
    report = batch.validate(suite).to_json_dict()
    failed = [_describe_failure(r) for r in report["results"] if not r["success"]]
    return ValidationSummary(report["success"], len(report["results"]), failed, report)
