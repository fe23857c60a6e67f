"""What decides whether a generated query is kept, each drop with its reason. Free of Beam.

Before scoring (qgen): empty and repeated queries of a document. After scoring (qgen_filter),
so that changing either re-runs no model: queries copied from their document, and queries the
classifier does not find faithful to the grade they were asked for."""

from dataclasses import dataclass

from transforms.qgen.grades import normalise_query

# When a query counts as copied from its document (after `normalise_query` on both):
# "contained": it appears anywhere in the document; "whole": it is the whole document (e.g. the
# product title itself); "off": never.
COPY_RULES = ("contained", "whole", "off")


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
