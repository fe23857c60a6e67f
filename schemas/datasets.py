"""One place where each published dataset's schema and Great Expectations suite are declared.

Expectations are plain data (the Great Expectations class name and its arguments) so that this
module stays importable without loading Great Expectations; `transforms.publish.validation` turns
them into a suite at validation time.
"""

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from schemas import records


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation by class name, e.g. `ExpectColumnValuesToNotBeNull`."""

    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetContract:
    """What a published dataset of one kind must look like."""

    kind: str
    schema: pa.Schema
    expectations: tuple[Expectation, ...]
    # Column whose distribution `refinery datasets diff` compares, if any.
    label_column: str | None = None
    # What the dataset card says about every dataset of this kind (not part of any version).
    description: str = ""
    task_categories: tuple[str, ...] = ()
    # String columns holding class names: `ClassLabel` features in the card, their names (and
    # counts) collected while the rows are written.
    class_columns: tuple[str, ...] = ()
    # Class names known before any row is written, first in the `ClassLabel` (so its ids stay
    # the same across versions); names found in the data follow.
    known_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _not_null(*columns: str) -> tuple[Expectation, ...]:
    return tuple(Expectation("ExpectColumnValuesToNotBeNull", {"column": c}) for c in columns)


# What every published query must satisfy, scored or kept.
_QUERY_EXPECTATIONS = (
    *_not_null("query", "doc_id", "doc_text", "classifier_grade", "grade_probabilities"),
    Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": ["doc_id", "query"]}),
    Expectation("ExpectColumnValueLengthsToBeBetween", {"column": "query", "min_value": 1}),
    Expectation("ExpectColumnValuesToBeBetween", {"column": "own_document_rank",
                                                  "min_value": 1}),
)

CONTRACTS: dict[str, DatasetContract] = {
    "document": DatasetContract(
        kind="document",
        schema=records.DOCUMENT,
        expectations=(
            *_not_null("id", "text"),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "id"}),
            Expectation("ExpectColumnValueLengthsToBeBetween", {"column": "text", "min_value": 1}),
        ),
        label_column="label",
        description="Text records ingested from the configured sources, one row per record, "
                    "mapped onto `id`, `text`, `label` and `domain`; unmapped source fields are "
                    "kept as a JSON object in `metadata`.",
        task_categories=("text-classification",),
        class_columns=("label",),
    ),
    "judgement": DatasetContract(
        kind="judgement",
        schema=records.JUDGEMENT,
        expectations=(
            *_not_null("query", "doc_id", "grade"),
            Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": ["query", "doc_id"]}),
        ),
        label_column="grade",
        description="Graded (query, document) relevance judgements ingested from the configured "
                    "sources.",
        task_categories=("text-retrieval",),
    ),
    "dead_letter": DatasetContract(
        kind="dead_letter",
        schema=records.DEAD_LETTER,
        expectations=(
            *_not_null("stage", "source", "file", "reason", "detail"),
            Expectation(
                "ExpectColumnValuesToBeInSet",
                {"column": "reason", "value_set": list(records.DEAD_LETTER_REASONS)},
            ),
        ),
        label_column="reason",
        description="Rows a stage could not use, each with the file, row and field it came from "
                    "and the reason; nothing is dropped silently.",
        class_columns=("reason",),
        known_classes={"reason": records.DEAD_LETTER_REASONS},
    ),
    "embedding": DatasetContract(
        kind="embedding",
        schema=records.EMBEDDING,
        expectations=(
            # Not the vectors themselves: loading every vector into one frame to check it is not
            # null would cost the memory streaming saves; the embed step never emits a null one.
            *_not_null("model", "text_hash"),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "text_hash"}),
        ),
        description="Sentence vectors keyed by the SHA-256 of the text and the encoder's "
                    "identity; later stages join records to them by text.",
        task_categories=("feature-extraction",),
    ),
    "class_ranking": DatasetContract(
        kind="class_ranking",
        schema=records.CLASS_RANKING,
        expectations=(
            *_not_null("source_class", "votes", "rank", "kept"),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "source_class"}),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "rank"}),
            Expectation("ExpectColumnValuesToBeBetween", {"column": "votes", "min_value": 0}),
        ),
        label_column="kept",
        description="Label-mapping pruning: every source class with the target examples' votes "
                    "for it, its rank, whether it was kept, and the source records' domain.",
        task_categories=("text-classification",),
    ),
    "distilled": DatasetContract(
        kind="distilled",
        schema=records.DISTILLED,
        expectations=(
            *_not_null("id", "token_reading"),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "id"}),
        ),
        description="KRR-ST distilled examples: learned points in a frozen token-embedding "
                    "space with learned targets in the teacher's representation space, for "
                    "pre-training before fine-tuning.",
        task_categories=("feature-extraction",),
    ),
    "scored_query": DatasetContract(
        kind="scored_query",
        schema=records.SCORED_QUERY,
        expectations=_QUERY_EXPECTATIONS,
        label_column="grade",
        description="Label-conditioned synthetic queries before the keep decision: every query "
                    "generated per document for each relevance grade (empty and repeated ones "
                    "dropped), with each grade's probability from a trained classifier.",
        task_categories=("text-retrieval",),
        class_columns=("grade", "classifier_grade"),
    ),
    "synthetic_query": DatasetContract(
        kind="synthetic_query",
        schema=records.SYNTHETIC_QUERY,
        expectations=_QUERY_EXPECTATIONS,
        label_column="grade",
        description="Label-conditioned synthetic queries: queries generated per document for each "
                    "relevance grade, kept when a trained classifier finds them faithful to it.",
        task_categories=("text-retrieval",),
        class_columns=("grade", "classifier_grade"),
    ),
}


def contract_for(kind: str) -> DatasetContract:
    """The contract of a dataset kind; a clear error for a kind nobody declared."""
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise KeyError(f"no dataset contract for kind {kind!r}; known: {sorted(CONTRACTS)}") from None
