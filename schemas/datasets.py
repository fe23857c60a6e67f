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


def _not_null(*columns: str) -> tuple[Expectation, ...]:
    return tuple(Expectation("ExpectColumnValuesToNotBeNull", {"column": c}) for c in columns)


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
    ),
    "judgement": DatasetContract(
        kind="judgement",
        schema=records.JUDGEMENT,
        expectations=(
            *_not_null("query", "doc_id", "grade"),
            Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": ["query", "doc_id"]}),
        ),
        label_column="grade",
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
    ),
    "distilled": DatasetContract(
        kind="distilled",
        schema=records.DISTILLED,
        expectations=(
            *_not_null("id", "token_reading"),
            Expectation("ExpectColumnValuesToBeUnique", {"column": "id"}),
        ),
    ),
    "synthetic_query": DatasetContract(
        kind="synthetic_query",
        schema=records.SYNTHETIC_QUERY,
        expectations=(
            *_not_null("query", "doc_id", "doc_text", "classifier_grade"),
            Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": ["doc_id", "query"]}),
            Expectation("ExpectColumnValueLengthsToBeBetween", {"column": "query", "min_value": 1}),
        ),
        label_column="grade",
    ),
}


def contract_for(kind: str) -> DatasetContract:
    """The contract of a dataset kind; a clear error for a kind nobody declared."""
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise KeyError(f"no dataset contract for kind {kind!r}; known: {sorted(CONTRACTS)}") from None
