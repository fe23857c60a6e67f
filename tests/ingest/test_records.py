import pytest

from transforms.dead_letters import Rejected
from transforms.ingest.readers import RawRow
from transforms.ingest.records import (
    FieldMapping,
    Located,
    resolve_duplicates,
    stable_id,
    to_record,
)

DOCS = FieldMapping(kind="document", fields={"id": "sku", "label": "category"}, max_text_length=10,
                    keep_unmapped_as_metadata=True)
JUDGEMENTS = FieldMapping(kind="judgement", fields={"doc_id": "sku", "grade": "rating"},
                          max_text_length=10_000, keep_unmapped_as_metadata=True)


def _row(**values) -> RawRow:
    return RawRow("f", 7, values)


def test_document_mapping_keeps_unmapped_columns_as_metadata():
    record = to_record(_row(sku=12, text="hello", category="a", price=3.5), DOCS)
    assert record == {"id": "12", "text": "hello", "label": "a", "domain": None,
                      "metadata": '{"price": 3.5}'}


def test_whole_number_float_label_reads_as_int_and_nan_metadata_as_null():
    record = to_record(_row(sku=4.0, text="hello", category=3.0, price=float("nan")), DOCS)
    assert (record["id"], record["label"], record["metadata"]) == ("4", "3", '{"price": null}')


def test_missing_id_gets_stable_content_hash():
    record = to_record(_row(text="hello"), DOCS)
    assert record["id"] == stable_id("hello") == to_record(_row(text="hello", sku=""), DOCS)["id"]


@pytest.mark.parametrize(("values", "reason", "field"), [
    ({"sku": "1"}, "missing_field", "text"),
    ({"text": None}, "missing_field", "text"),
    ({"text": 5}, "wrong_type", "text"),
    ({"text": "   "}, "empty_field", "text"),
    ({"text": "x" * 11}, "text_too_long", "text"),
    ({"text": "ok", "sku": [1]}, "wrong_type", "id"),
    ({"text": "ok", "category": {"a": 1}}, "wrong_type", "label"),
    ({"text": "ok", "sku": True}, "wrong_type", "id"),
    ({"text": "ok", "category": 1.5}, "wrong_type", "label"),
])
def test_bad_documents_are_rejected_with_reason_and_field(values, reason, field):
    result = to_record(_row(**values), DOCS)
    assert isinstance(result, Rejected)
    assert (result.reason, result.field, result.file, result.row) == (reason, field, "f", 7)


def test_judgement_grade_accepts_numbers_and_numeric_strings():
    assert to_record(_row(query="q", sku="d", rating="2.5"), JUDGEMENTS)["grade"] == 2.5
    assert to_record(_row(query="q", sku=4, rating=3), JUDGEMENTS)["doc_id"] == "4"


@pytest.mark.parametrize("rating", ["high", True, "nan", [1]])
def test_judgement_bad_grade_is_wrong_type(rating):
    result = to_record(_row(query="q", sku="d", rating=rating), JUDGEMENTS)
    assert (result.reason, result.field) == ("wrong_type", "grade")


def test_duplicates_keep_first_by_location_and_reject_conflicts():
    first = Located({"id": "1", "text": "a"}, "a.jsonl", 3, "src")
    repeat = Located({"id": "1", "text": "a"}, "b.jsonl", 1, "src")
    conflict = Located({"id": "1", "text": "b"}, "a.jsonl", 9, "src")
    resolved = resolve_duplicates("1", [conflict, repeat, first], "id")
    assert resolved.kept == first
    assert resolved.exact_duplicates == 1
    [(source, rejected)] = resolved.conflicts
    assert (source, rejected.file, rejected.row, rejected.reason) == (
        "src", "a.jsonl", 9, "duplicate_id_conflict")
    assert "a.jsonl row 3" in rejected.detail


def test_earlier_source_of_a_dataset_wins_across_splits():
    in_test = Located({"id": "x", "text": "t"}, "a_test.csv", 2, "test_src", order=1, split="test")
    in_train = Located({"id": "x", "text": "t"}, "z_train.csv", 5, "train_src", order=0)
    resolved = resolve_duplicates("x", [in_test, in_train], "id")
    assert resolved.kept.split == "train" and resolved.exact_duplicates == 1
