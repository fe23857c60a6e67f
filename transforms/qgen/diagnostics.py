"""What the `scored_queries` card warns about, from the (grade asked for, classifier grade)
counts of every judged query. Free of Beam."""

import math

# The card warns when the classifier gives one grade to at least this share of the queries...
ONE_GRADE_SHARE = 0.9
# ...or when its grades agree with the grades asked for no better than this Cohen's kappa
# ("slight" agreement at most): the faithfulness filter then keeps queries close to at random.
MIN_AGREEMENT_KAPPA = 0.2


def _cohen_kappa(counts: dict[tuple[str, str], int], total: int) -> float:
    asked: dict[str, int] = {}
    predicted: dict[str, int] = {}
    for (intended, grade), count in counts.items():
        asked[intended] = asked.get(intended, 0) + count
        predicted[grade] = predicted.get(grade, 0) + count
    observed = sum(count for (intended, grade), count in counts.items() if intended == grade)
    chance = sum(asked[g] * predicted.get(g, 0) for g in asked) / total
    return 0.0 if total == chance else (observed - chance) / (total - chance)


def classifier_warnings(counts: dict[tuple[str, str], int], grades: list[str]) -> list[str]:
    """Warnings when the grade classifier has most likely not learned to tell the grades apart:
    it predicts one grade for almost every query (a loss stuck near ln(number of grades) says
    the same), or its grades are close to independent of the grade each query was asked for."""
    total = sum(counts.values())
    if not total or len(grades) < 2:
        return []
    warnings = []
    predicted: dict[str, int] = {}
    for (_, grade), count in counts.items():
        predicted[grade] = predicted.get(grade, 0) + count
    grade, count = min(predicted.items(), key=lambda kv: (-kv[1], kv[0]))
    if count / total >= ONE_GRADE_SHARE:
        warnings.append(
            f"the grade classifier predicted `{grade}` for {count / total:.0%} of the {total:,} "
            f"judged queries: it has most likely not learned to tell the {len(grades)} grades "
            f"apart (a training loss near ln {len(grades)} = {math.log(len(grades)):.2f} says "
            "the same), so its probabilities say little about the grade of a query and the "
            "faithfulness filter decides close to at random.")
    kappa = _cohen_kappa(counts, total)
    if kappa <= MIN_AGREEMENT_KAPPA:
        warnings.append(
            f"the grade classifier agrees with the grade each query was generated for hardly "
            f"better than chance (Cohen's kappa {kappa:.2f} over {total:,} judged queries), so "
            "the faithfulness filter kept queries close to at random. See the grade confusion "
            "chart; train the classifier longer or on more judgements.")
    return warnings


def calibration_warnings(report: dict) -> list[str]:
    """A warning per grade the classifier never recognised on its held-out calibration slice:
    its probability of that grade is then no guide to which queries are faithful to it."""
    calibration = report.get("calibration") or {}
    return [f"the grade classifier recognised no `{grade}` pair of the "
            f"{calibration['support'][grade]:,} in its held-out calibration slice (recall 0), "
            f"so its probability of `{grade}` is no guide to which queries are faithful to it; "
            "see the manifest's reports.classifier"
            for grade, recall in (calibration.get("recall") or {}).items() if recall == 0]
