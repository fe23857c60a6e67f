"""Content hashes over rows, independent of how Beam happened to shard them, and the class counts
the dataset card shows.

Each row is serialised canonically (sorted keys, no whitespace) and hashed; a split's hash is the
hash of its row digests in sorted order. Two publishes of the same rows get the same hash whatever
their file layout.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam


def _plain(value: Any) -> Any:
    """numpy arrays and scalars as the lists and numbers they would be read back as."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def row_digest(row: dict[str, Any]) -> bytes:
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=_plain)
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def digests_hash(digests: list[bytes]) -> str:
    hasher = hashlib.sha256()
    for digest in sorted(digests):
        hasher.update(digest)
    return hasher.hexdigest()


# A class column with more distinct values than this is not a set of classes the card can list
# (an id-like column): its counts are dropped and the card leaves it a plain string.
MAX_CARD_CLASSES = 10_000


@dataclass(frozen=True)
class SplitSummary:
    split: str
    rows: int
    content_hash: str
    # Per class column: rows per class name (nulls not counted), or None past MAX_CARD_CLASSES.
    classes: dict[str, dict[str, int] | None] = field(default_factory=dict)


@dataclass
class _Accumulator:
    digests: list[bytes] = field(default_factory=list)
    classes: dict[str, Counter | None] = field(default_factory=dict)


def _capped(counter: Counter | None) -> Counter | None:
    return None if counter is None or len(counter) > MAX_CARD_CLASSES else counter


class SummariseSplitFn(beam.CombineFn):
    """Row count, content hash and class counts of one split. Holds 32 bytes per row, and up to
    MAX_CARD_CLASSES names per class column, on the combining worker."""

    def __init__(self, split: str, class_columns: tuple[str, ...] = ()) -> None:
        self._split = split
        self._class_columns = class_columns

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator(classes={column: Counter() for column in self._class_columns})

    def add_input(self, accumulator: _Accumulator, row: dict[str, Any]) -> _Accumulator:
        accumulator.digests.append(row_digest(row))
        for column, counter in accumulator.classes.items():
            if counter is not None and row.get(column) is not None:
                counter[row[column]] += 1
                accumulator.classes[column] = _capped(counter)
        return accumulator

    def merge_accumulators(self, accumulators) -> _Accumulator:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged.digests.extend(accumulator.digests)
            for column, counter in accumulator.classes.items():
                total = merged.classes[column]
                merged.classes[column] = (None if counter is None or total is None
                                          else _capped(total + counter))
        return merged

    def extract_output(self, accumulator: _Accumulator) -> SplitSummary:
        classes = {column: None if counter is None else dict(sorted(counter.items()))
                   for column, counter in accumulator.classes.items()}
        return SplitSummary(self._split, len(accumulator.digests),
                            digests_hash(accumulator.digests), classes)
