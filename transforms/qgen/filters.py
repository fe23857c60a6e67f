"""The non-model filters applied to generated queries, each drop with its reason. Free of Beam."""

from dataclasses import dataclass

from transforms.qgen.grades import normalise_query


@dataclass(frozen=True)
class Generated:
    """One generated query for a document and the grade it was asked for (None: unconditioned)."""

    doc_id: str
    doc_text: str
    grade: str | None
    query: str


def filter_document_queries(queries: list[Generated],
                            drop_copied: bool) -> tuple[list[Generated], list[str]]:
    """All queries of one document -> (kept, reasons of the dropped ones). A query is dropped when
    it is empty after normalising (`empty_query`), repeats an earlier query of the same document
    for any grade (`duplicate_query`), or, with `drop_copied`, appears verbatim in the document
    (`copied_from_document`). Order: by grade name, then query text, so the result does not
    depend on the order Beam delivers them in."""
    kept, reasons, seen = [], [], set()
    for item in sorted(queries, key=lambda q: (q.grade or "", q.query)):
        query = normalise_query(item.query)
        if not query:
            reasons.append("empty_query")
        elif query in seen:
            reasons.append("duplicate_query")
        elif drop_copied and query in normalise_query(item.doc_text):
            reasons.append("copied_from_document")
        else:
            seen.add(query)
            kept.append(Generated(item.doc_id, item.doc_text, item.grade, query))
    return kept, reasons
