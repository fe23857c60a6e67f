"""qgen_filter's thresholds: the configured ones first, else the calibrated ones qgen published."""

import pytest

from pipelines.config import QgenConfig
from pipelines.stages.contract import PlanError
from pipelines.stages.planning import Parent
from pipelines.stages.qgen_filter import thresholds


def _scored(calibrated: dict) -> Parent:
    return Parent("scored_queries", "abc123",
                  {"reports": {"classifier": {"thresholds": calibrated}}})


def _config(**overrides) -> QgenConfig:
    return QgenConfig(judgements="j", documents="d", **overrides)


def test_a_configured_threshold_overrides_the_calibrated_one_of_its_grade_only():
    scored = _scored({"Irrelevant": 0.3, "Partial": 0.4, "Exact": 0.5})
    assert thresholds(_config(faithfulness_threshold={"Exact": 0.8}), scored) == {
        "Irrelevant": 0.3, "Partial": 0.4, "Exact": 0.8}


def test_a_grade_without_either_threshold_is_a_plan_error_that_says_what_to_set():
    scored = _scored({"Irrelevant": 0.3, "Partial": None, "Exact": 0.5})
    with pytest.raises(PlanError, match=r"no threshold for grade 'Partial'.*scored_queries@abc123"
                                        r".*set stages.qgen.faithfulness_threshold.Partial"):
        thresholds(_config(), scored)
    assert thresholds(_config(faithfulness_threshold={"Partial": 0.6}), scored)["Partial"] == 0.6
