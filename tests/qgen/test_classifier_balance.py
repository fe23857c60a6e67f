"""How the grade classifier sees rare grades, and the held-out slice it is reported on and its
thresholds are chosen on."""

from collections import Counter

import numpy as np
import pytest

from transforms.qgen.classifier import (
    balanced_order,
    calibration_split,
    grade_report,
    grade_weights,
    threshold_curves,
)
from transforms.qgen.diagnostics import calibration_warnings
from transforms.qgen.filters import calibrated_thresholds
from transforms.qgen.training import Triple

GRADES = ["Irrelevant", "Partial", "Exact"]


def test_weights_are_inverse_grade_frequency_with_mean_one_over_examples():
    grades = ["Exact"] * 6 + ["Partial"] * 3 + ["Irrelevant"]
    weights = dict(zip(GRADES, grade_weights(grades, GRADES).tolist(), strict=True))
    assert weights == pytest.approx({"Irrelevant": 10 / 3, "Partial": 10 / 9, "Exact": 10 / 18})
    assert sum(weights[g] for g in grades) / len(grades) == pytest.approx(1.0)
    assert grade_weights(["Exact", "Partial"], GRADES).tolist()[0] == 0.0  # absent grade


def test_balanced_order_repeats_rare_grades_to_equal_shares_and_is_seeded():
    grades = ["Exact"] * 6 + ["Partial"] * 3 + ["Irrelevant"]
    order = balanced_order(grades, seed=0)
    assert Counter(grades[i] for i in order) == {"Exact": 6, "Partial": 6, "Irrelevant": 6}
    assert set(order) == set(range(len(grades)))  # every example is still drawn
    assert order == balanced_order(grades, seed=0) != balanced_order(grades, seed=1)


def test_calibration_slice_is_seeded_disjoint_and_about_the_fraction():
    triples = [Triple(f"q{i}", f"d{i % 50}", GRADES[i % 3]) for i in range(3000)]
    train, held_out = calibration_split(triples, 0.1, seed=0)
    assert len(train) + len(held_out) == 3000 and not set(train) & set(held_out)
    assert 240 < len(held_out) < 360
    assert calibration_split(list(reversed(triples)), 0.1, seed=0)[1] == list(
        reversed(held_out))  # membership does not depend on order
    assert calibration_split(triples, 0.1, seed=1)[1] != held_out


def test_grade_report_counts_recall_precision_and_macro_f1():
    report = grade_report(["Exact", "Exact", "Partial", "Irrelevant"],
                          ["Exact", "Partial", "Partial", "Exact"], GRADES)
    assert report["recall"] == {"Irrelevant": 0.0, "Partial": 1.0, "Exact": 0.5}
    assert report["precision"] == {"Irrelevant": None, "Partial": 0.5, "Exact": 0.5}
    assert report["macro_f1"] == pytest.approx((0 + 2 / 3 + 0.5) / 3)
    assert report["accuracy"] == 0.5 and report["support"]["Exact"] == 2


def test_a_grade_never_recognised_on_the_slice_is_a_card_warning():
    report = {"calibration": grade_report(["Exact", "Irrelevant"], ["Exact", "Exact"], GRADES)}
    (warning,) = calibration_warnings(report)
    assert "recognised no `Irrelevant` pair of the 1 in its held-out calibration slice" in warning
    assert calibration_warnings({"calibration": grade_report(["Exact"], ["Exact"], GRADES)}) == []


def test_calibrated_thresholds_separate_each_grade_and_skip_an_absent_one():
    grades = ["Irrelevant", "Partial", "Exact"]
    intended = ["Irrelevant"] * 2 + ["Exact"] * 8
    irrelevant = [0.9, 0.6] + [0.55] + [0.1] * 7  # the Irrelevant pairs are the two above 0.55
    curves = threshold_curves(np.array([[p, 0.0, 1 - p] for p in irrelevant]), intended, grades)
    at = curves["grid"].index
    assert curves["counts"]["Irrelevant"]["Irrelevant"][at(0.56)] == 2
    assert curves["counts"]["Irrelevant"]["Exact"][at(0.55)] == 1
    assert curves["counts"]["Partial"]["Partial"] == [0] * len(curves["grid"])
    chosen = calibrated_thresholds(curves)
    assert chosen["Irrelevant"] == 0.56  # the lowest threshold with every decision right
    assert chosen["Partial"] is None  # no Partial pair to choose on
    assert chosen["Exact"] == 0.41  # above the Irrelevant pairs' 0.1 and 0.4, below 0.45


def test_a_rare_grade_counts_as_much_as_a_common_one_and_beta_favours_precision():
    grades = ["Irrelevant", "Exact"]
    # 10 Irrelevant pairs: 5 at 0.8, 5 at 0.3; 100 Exact pairs: 10 at 0.6, 90 at 0.1.
    p_irrelevant = [0.8] * 5 + [0.3] * 5 + [0.6] * 10 + [0.1] * 90
    intended = ["Irrelevant"] * 10 + ["Exact"] * 100
    curves = threshold_curves(np.array([[p, 1 - p] for p in p_irrelevant]), intended, grades)
    # Counted as equally common, 0.11 (recall 1, precision 1 / 1.1; unweighted it would be
    # 10 / 20) has the best F1; with beta 0.25, 0.61 (recall 0.5, precision 1) wins.
    assert calibrated_thresholds(curves, beta=1.0)["Irrelevant"] == 0.11
    assert calibrated_thresholds(curves, beta=0.25)["Irrelevant"] == 0.61
