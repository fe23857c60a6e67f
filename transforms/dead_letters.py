"""Dead-letter rows: what every stage writes for a record it cannot use, and why. Free of Beam.

Ingest rejects rows of source files; later stages reject records of published datasets, which
they name as `dataset@version` in the `file` column. Both share the row shape of
`schemas.records.DEAD_LETTER` and the bounded, printable `raw` preview.
"""

import json
from dataclasses import dataclass
from typing import Any

# Keep dead-letter rows readable: the raw text of a bad row is cut to this many characters.
RAW_PREVIEW_CHARS = 2000


@dataclass(frozen=True)
class Rejected:
    """A row that cannot become a record, and why."""

    file: str
    row: int | None
    reason: str
    detail: str
    field: str | None = None
    raw: str | None = None


def printable(text: str) -> str:
    """Lone surrogates (undecodable bytes) shown as `\\udcNN`, so the text is valid UTF-8."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def preview(raw: Any) -> str:
    """A bounded, printable form of a raw value for the dead-letter dataset."""
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return printable(text)[:RAW_PREVIEW_CHARS]


def dead_letter_row(stage: str, source: str, rejected: Rejected) -> dict[str, Any]:
    """The dead-letter dataset row for a rejected row."""
    return {"stage": stage, "source": source, "file": rejected.file, "row": rejected.row,
            "field": rejected.field, "reason": rejected.reason, "detail": rejected.detail,
            "raw": rejected.raw}


def later_stage_dead_letter(stage: str, dataset: str, version: str, field: str, reason: str,
                            detail: str, raw: str | None) -> dict[str, Any]:
    """A dead-letter row for a record that came from a published dataset, not a source file."""
    rejected = Rejected(f"{dataset}@{version}", None, reason, detail, field=field,
                        raw=None if raw is None else preview(raw))
    return dead_letter_row(stage, dataset, rejected)


def reason_count(row) -> tuple[str, int]:  # no input hint: Beam would type-check it strictly
    """A dead-letter row as one count of its reason, for a manifest's `drop_counts`."""
    return row["reason"], 1
