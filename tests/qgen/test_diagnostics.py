"""The qgen card's warnings about a grade classifier that did not learn."""

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
