"""qgen_filter's thresholds: the configured ones first, else the calibrated ones qgen published."""

import numpy as np
import pytest

from pipelines.config import QgenConfig
from pipelines.stages.contract import PlanError
from pipelines.stages.planning import Parent
from pipelines.stages.qgen_filter import thresholds
from transforms.qgen.classifier import threshold_curves

GRADES = ["Irrelevant", "Partial", "Exact"]


def _scored(intended: list[str]) -> Parent:
    """A scored_queries version whose calibration slice had a pair of each grade `intended`
    names, each the most probable (0.9) for its own grade."""
    probabilities = np.full((len(intended), 3), 0.05)
    for row, grade in enumerate(intended):
        probabilities[row, GRADES.index(grade)] = 0.9
    curves = threshold_curves(probabilities, intended, GRADES)
    return Parent("scored_queries", "abc123", {"reports": {"classifier": {
        "calibration": {"threshold_curves": curves}}}})


def _config(**overrides) -> QgenConfig:
    return QgenConfig(judgements="j", documents="d", **overrides)


def test_a_configured_threshold_overrides_the_calibrated_one_of_its_grade_only():
    scored = _scored(GRADES)  # every grade separable: the lowest threshold above 0.05
    assert thresholds(_config(faithfulness_threshold={"Exact": 0.8}), scored) == {
        "Irrelevant": 0.06, "Partial": 0.06, "Exact": 0.8}


def test_a_grade_without_either_threshold_is_a_plan_error_that_says_what_to_set():
    scored = _scored(["Irrelevant", "Exact"])
    with pytest.raises(PlanError, match=r"no threshold for grade 'Partial'.*scored_queries@abc123"
                                        r".*set stages.qgen.faithfulness_threshold.Partial"):
        thresholds(_config(), scored)
    assert thresholds(_config(faithfulness_threshold={"Partial": 0.6}), scored)["Partial"] == 0.6
