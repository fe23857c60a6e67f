"""Field mapping: a parsed source row becomes a canonical record or a `Rejected` with its reason.

Free of Beam. The canonical record types are in `schemas.records`; this module decides which raw
values are acceptable for each field.
"""

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from transforms.dead_letters import Rejected, preview
from transforms.ingest.readers import RawRow

# Canonical fields per record kind: (required, optional). `id` is optional: a missing id becomes a
# content hash of the text.
CANONICAL_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "document": (("text",), ("id", "label", "domain")),
    "judgement": (("query", "doc_id", "grade"), ()),
}


@dataclass(frozen=True)
class FieldMapping:
    """How one source's columns become a record of `kind`. `fields` maps canonical -> source column."""

    kind: str
    fields: dict[str, str]
    max_text_length: int
    keep_unmapped_as_metadata: bool

    def column(self, canonical: str) -> str:
        return self.fields.get(canonical, canonical)


def stable_id(text: str) -> str:
    """Id for a document whose source has none: the same text always gets the same id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class _Reject(Exception):
    def __init__(self, reason: str, field_name: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.field_name = field_name
        self.detail = detail


def _string(values: dict[str, Any], mapping: FieldMapping, canonical: str, *,
            required: bool, allow_whole_number: bool = False) -> str | None:
    column = mapping.column(canonical)
    value = values.get(column)
    if isinstance(value, float) and math.isnan(value):  # how pandas writes a missing value
        value = None
    if value is None:
        if required:
            raise _Reject("missing_field", canonical, f"column {column!r} is missing or null")
        return None
    if allow_whole_number and _is_whole_number(value):
        value = str(int(value))
    if not isinstance(value, str):
        raise _Reject("wrong_type", canonical,
                      f"column {column!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        if required:
            raise _Reject("empty_field", canonical, f"column {column!r} is empty")
        return None
    return value


def _is_whole_number(value: Any) -> bool:
    """Ids and labels may be numbers; a float label like `3.0` is how pandas writes an int column
    with missing values, so it reads as "3"."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _text(values: dict[str, Any], mapping: FieldMapping, canonical: str) -> str:
    text = _string(values, mapping, canonical, required=True)
    assert text is not None
    if len(text) > mapping.max_text_length:
        raise _Reject("text_too_long", canonical,
                      f"{len(text)} characters, limit is {mapping.max_text_length}")
    return text


def _grade(values: dict[str, Any], mapping: FieldMapping) -> float:
    column = mapping.column("grade")
    value = values.get(column)
    if value is None:
        raise _Reject("missing_field", "grade", f"column {column!r} is missing or null")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Reject("wrong_type", "grade",
                      f"column {column!r} must be a number, got {type(value).__name__}")
    try:
        grade = float(value)
    except ValueError:
        raise _Reject("wrong_type", "grade", f"column {column!r} is not a number: {value!r}") from None
    if not math.isfinite(grade):
        raise _Reject("wrong_type", "grade", f"column {column!r} is not finite: {value!r}")
    return grade


def _metadata(values: dict[str, Any], mapping: FieldMapping, claimed: set[str]) -> str | None:
    if not mapping.keep_unmapped_as_metadata:
        return None
    rest = {k: _json_value(v) for k, v in values.items() if k not in claimed}
    return json.dumps(rest, sort_keys=True, ensure_ascii=False, default=str) if rest else None


def _json_value(value: Any) -> Any:
    """NaN and infinities become null: strict JSON parsers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _document(values: dict[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    text = _text(values, mapping, "text")
    doc_id = _string(values, mapping, "id", required=False, allow_whole_number=True) or stable_id(text)
    label = _string(values, mapping, "label", required=False, allow_whole_number=True)
    domain = _string(values, mapping, "domain", required=False, allow_whole_number=True)
    claimed = {mapping.column(c) for c in ("text", "id", "label", "domain")}
    return {"id": doc_id, "text": text, "label": label, "domain": domain,
            "metadata": _metadata(values, mapping, claimed)}


def _judgement(values: dict[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    query = _text(values, mapping, "query")
    doc_id = _string(values, mapping, "doc_id", required=True, allow_whole_number=True)
    grade = _grade(values, mapping)
    claimed = {mapping.column(c) for c in ("query", "doc_id", "grade")}
    return {"query": query, "doc_id": doc_id, "grade": grade,
            "metadata": _metadata(values, mapping, claimed)}


_BUILDERS = {"document": _document, "judgement": _judgement}


def to_record(row: RawRow, mapping: FieldMapping) -> dict[str, Any] | Rejected:
    """The canonical record for a parsed row, or why there is none."""
    try:
        return _BUILDERS[mapping.kind](row.values, mapping)
    except _Reject as reject:
        return Rejected(row.file, row.row, reject.reason, reject.detail, field=reject.field_name,
                        raw=preview(row.values))


def dedup_key(record: dict[str, Any], kind: str) -> str:
    """Records with the same key are the same record; with different content they conflict."""
    if kind == "document":
        return record["id"]
    return json.dumps([record["query"], record["doc_id"]], ensure_ascii=False)


@dataclass(frozen=True)
class Located:
    """A record with where it was read from, so duplicates resolve the same way on every run:
    `order` is its source's position among the sources of its dataset, `split` where it goes."""

    record: dict[str, Any]
    file: str
    row: int
    source: str = ""
    order: int = 0
    split: str = "train"


@dataclass(frozen=True)
class Resolved:
    """The outcome of one duplicate key: the record kept, conflicts, and exact repeats dropped."""

    kept: Located
    conflicts: list[tuple[str, Rejected]]  # (source name, rejection)
    exact_duplicates: int


def resolve_duplicates(key: str, located: list[Located], field_name: str) -> Resolved:
    """Keep the first occurrence (by source order, file, row) across all sources of a dataset, so
    a text in both a train and a test source stays in the first; identical repeats are dropped and
    counted, differing ones are rejected as conflicts naming where the kept record came from."""
    ordered = sorted(located, key=lambda item: (item.order, item.file, item.row))
    first = ordered[0]
    conflicts: list[tuple[str, Rejected]] = []
    exact = 0
    for later in ordered[1:]:
        if later.record == first.record:
            exact += 1
            continue
        conflicts.append((later.source, Rejected(
            later.file, later.row, "duplicate_id_conflict",
            f"{field_name} {key} already read from {first.file} row {first.row} "
            "with different content", field=field_name, raw=preview(later.record))))
    return Resolved(first, conflicts, exact)
