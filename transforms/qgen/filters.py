"""What decides whether a generated query is kept, each drop with its reason. Free of Beam.

Before scoring (qgen): empty and repeated queries of a document. After scoring (qgen_filter),
so that changing any re-runs no model: queries copied from their document, queries the
classifier does not find faithful to the grade they were asked for, and (optionally) queries
whose own document the classifier does not rank in the top k."""

from dataclasses import dataclass

from transforms.qgen.grades import normalise_query

# When a query counts as copied from its document (after `normalise_query` on both):
# "contained": it appears anywhere in the document; "whole": it is the whole document (e.g. the
# product title itself); "off": never.
COPY_RULES = ("contained", "whole", "off")
# How a grade's default threshold weighs precision against recall on the calibration slice
# (F-beta; below 1 favours precision: the kept queries' faithfulness). 0.25: on Home Depot (3
# seeds) its queries train a classifier as good as F1's from 44% as many, and a judge trained
# on real target labels agrees with at least half of every grade (F1: 0.36 Irrelevant, 0.49
# Partial) (BENCHMARKS.md, "QGen: which keep rule").
CALIBRATION_BETA = 0.25


@dataclass(frozen=True)
class Generated:
    """One generated query for a document and the grade it was asked for (None: unconditioned)."""

    doc_id: str
    doc_text: str
    grade: str | None
    query: str


def filter_document_queries(queries: list[Generated]) -> tuple[list[Generated], list[str]]:
    """All queries of one document -> (kept, reasons of the dropped ones), each kept query
    normalised. A query is dropped when it is empty after normalising (`empty_query`) or repeats
    an earlier query of the same document for any grade (`duplicate_query`). Order: by grade
    name, then query text, so the result does not depend on the order Beam delivers them in."""
    kept, reasons, seen = [], [], set()
    for item in sorted(queries, key=lambda q: (q.grade or "", q.query)):
        query = normalise_query(item.query)
        if not query:
            reasons.append("empty_query")
        elif query in seen:
            reasons.append("duplicate_query")
        else:
            seen.add(query)
            kept.append(Generated(item.doc_id, item.doc_text, item.grade, query))
    return kept, reasons


def copied_from_document(query: str, document: str, rule: str) -> bool:
    """Whether `query` counts as copied from `document` under `rule` (one of COPY_RULES)."""
    if rule == "off":
        return False
    query, document = normalise_query(query), normalise_query(document)
    return query == document if rule == "whole" else query in document


def faithful_to_grade(probabilities: list[float], grade: str | None, grades: list[str],
                      thresholds: dict[str, float]) -> bool | None:
    """Whether the classifier's probability of the grade a query was asked for reaches that
    grade's threshold; None for an unconditioned query, which was asked for no grade."""
    if grade is None:
        return None
    return probabilities[grades.index(grade)] >= thresholds[grade]


def round_trip_consistent(own_document_rank: int | None, top_k: int | None) -> bool:
    """Whether a query brings its own document back in the top k (see `round_trip`); a query
    without a rank (not checked, or round-trip scoring off) and any query when `top_k` is None
    pass."""
    return top_k is None or own_document_rank is None or own_document_rank <= top_k


def threshold_scores(curves: dict, grade: str, beta: float) -> list[tuple[float, float]]:
    """(threshold, F-beta of "this pair has `grade`") per grid value above 0, from the
    calibration slice's `threshold_curves`, every labelled grade counted as if equally common
    (generation asks for each grade equally often, whatever the judgements' mix)."""
    counts = curves["counts"][grade]
    support = {labelled: at[0] for labelled, at in counts.items() if at[0]}  # grid[0] is 0
    if grade not in support:
        return []
    scores = []
    for index, threshold in enumerate(curves["grid"]):
        if threshold <= 0:
            continue
        recall = counts[grade][index] / support[grade]
        said = sum(counts[labelled][index] / n for labelled, n in support.items())
        precision = counts[grade][index] / support[grade] / said if said else 0.0
        scores.append((threshold, 0.0 if not precision + recall else
                       (1 + beta**2) * precision * recall / (beta**2 * precision + recall)))
    return scores


def calibrated_thresholds(curves: dict, beta: float = CALIBRATION_BETA
                          ) -> dict[str, float | None]:
    """Per grade, the lowest threshold with the best F-beta on the calibration slice (see
    `threshold_scores`); None for a grade with no labelled pair there."""
    chosen: dict[str, float | None] = {}
    for grade in curves["counts"]:
        scores = threshold_scores(curves, grade, beta)
        best = max((score for _, score in scores), default=None)
        chosen[grade] = (None if best is None else
                         next(t for t, score in scores if score >= best - 1e-12))
    return chosen
