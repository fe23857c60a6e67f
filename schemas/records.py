"""Canonical record types, as pyarrow schemas.

Every ingested source becomes one of these; every published dataset declares one of them (or a
stage-specific schema) in `schemas.datasets`. `metadata` holds the source columns that the field
mapping did not claim, as a JSON object string, so that Parquet readers that do not support map
types (and `datasets.load_dataset`) load it unchanged.
"""

import pyarrow as pa

DOCUMENT = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("metadata", pa.string()),
    ]
)

JUDGEMENT = pa.schema(
    [
        pa.field("query", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("grade", pa.float64(), nullable=False),
        pa.field("metadata", pa.string()),
    ]
)

DEAD_LETTER = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("row", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)

# Why a row was sent to dead letter: stable snake_case names, counted per source.
DEAD_LETTER_REASONS = (
    # ingest
    "unparseable",
    "undecodable_bytes",
    "wrong_type",
    "missing_field",
    "empty_field",
    "text_too_long",
    "duplicate_id_conflict",
    "unreadable_file",
    # prune / distill: records read from a published dataset
    "missing_embedding",
    "missing_label",
    "unknown_target_label",
    # qgen
    "unknown_grade",
    "unknown_document",
)

EMBEDDING = pa.schema(
    [
        pa.field("model", pa.string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),
    ]
)

CLASS_RANKING = pa.schema(
    [
        pa.field("source_class", pa.string(), nullable=False),
        pa.field("votes", pa.int64(), nullable=False),
        pa.field("share", pa.float64(), nullable=False),
        pa.field("probability_mass", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
        pa.field("top_target_classes", pa.list_(pa.string()), nullable=False),
        # the most common domain of the class's source records; null when they have none
        pa.field("domain", pa.string()),
    ]
)

# A KRR-ST synthetic example: a point in the token-embedding input space of a frozen table (its
# identity is in the manifest) with a learned target in the teacher's representation space.
DISTILLED = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("inputs_embeds", pa.list_(pa.list_(pa.float32())), nullable=False),  # (L, d)
        pa.field("attention_mask", pa.list_(pa.int8()), nullable=False),  # (L,)
        pa.field("target", pa.list_(pa.float32()), nullable=False),  # (t,)
        pa.field("token_reading", pa.string(), nullable=False),  # nearest table token per position
        pa.field("nearest_ids", pa.list_(pa.string()), nullable=False),
        pa.field("nearest_texts", pa.list_(pa.string()), nullable=False),
        pa.field("nearest_similarity", pa.list_(pa.float32()), nullable=False),
    ]
)

# A generated query with every grade's probability from the trained classifier, before the keep
# decision (qgen_filter), so that changing that decision re-runs no model.
_SCORED_QUERY_FIELDS = [
    pa.field("query", pa.string(), nullable=False),
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("doc_text", pa.string(), nullable=False),
    pa.field("grade", pa.string()),  # the grade asked for; null in unconditioned mode
    pa.field("generator", pa.string(), nullable=False),  # trained model identity
    pa.field("seed", pa.int64(), nullable=False),
    pa.field("classifier_grade", pa.string(), nullable=False),  # the most probable grade
    # one per configured grade, in the config's order (the manifest's `grade` class names)
    pa.field("grade_probabilities", pa.list_(pa.float64()), nullable=False),
    # 1 + how many of stages.qgen.round_trip_documents sampled target documents the classifier
    # rates above the query's own; null when round-trip scoring is off or the grade is the lowest
    pa.field("own_document_rank", pa.int64()),
]
SCORED_QUERY = pa.schema(_SCORED_QUERY_FIELDS)

SYNTHETIC_QUERY = pa.schema(
    # faithful: the probability of the grade asked for reaches its threshold; null unconditioned
    [*_SCORED_QUERY_FIELDS, pa.field("faithful", pa.bool_())]
)
