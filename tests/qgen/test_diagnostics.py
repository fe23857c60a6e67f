"""The qgen cards' warnings: a grade classifier that did not learn, a grade the filter kept none of."""

from transforms.qgen.diagnostics import classifier_warnings

GRADES = ["Irrelevant", "Partial", "Exact"]


def test_a_classifier_that_predicts_one_grade_is_flagged():
    counts = {(grade, "Exact"): 30 for grade in GRADES} | {("Exact", "Partial"): 2}
    warnings = classifier_warnings(counts, GRADES)
    assert any("predicted `Exact` for 98%" in w and "ln 3 = 1.10" in w for w in warnings)


def test_grades_independent_of_the_grade_asked_for_are_flagged():
    # the example rebuild's confusion: Exact for 78% whatever was asked, never Irrelevant
    counts = {("Irrelevant", "Partial"): 17, ("Irrelevant", "Exact"): 66,
              ("Partial", "Partial"): 18, ("Partial", "Exact"): 65,
              ("Exact", "Partial"): 21, ("Exact", "Exact"): 65}
    (warning,) = classifier_warnings(counts, GRADES)
    assert "Cohen's kappa -0.01 over 252" in warning


def test_a_classifier_that_agrees_is_not_flagged():
    counts = {(g, p): 40 if g == p else 5 for g in GRADES for p in GRADES}
    assert classifier_warnings(counts, GRADES) == []
    assert classifier_warnings({}, GRADES) == []


def test_the_filter_counts_scored_and_kept_queries_per_grade_and_warns_of_a_grade_none_kept():
    from transforms.qgen.filter_transform import kept_grade_warnings, tally_report

    report = tally_report({("scored", "Exact"): 5, ("kept", "Exact"): 3,
                           ("scored", "Irrelevant"): 4, ("scored", None): 2, ("kept", None): 2})
    assert report == {"scored": {"Exact": 5, "Irrelevant": 4, "none": 2},
                      "kept": {"Exact": 3, "none": 2}}
    [warning] = kept_grade_warnings(report, ("Irrelevant", "Partial", "Exact"))
    assert warning.startswith("no `Irrelevant` query was kept of the 4 scored")
    assert "faithfulness_threshold.Irrelevant" in warning
