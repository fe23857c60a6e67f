"""Content hashes over rows, independent of how Beam happened to shard them, and the class counts
the dataset card shows.

Each row is serialised canonically (sorted keys, no whitespace) and hashed with SHA-256; a split's
hash combines the row count and the sum of the row digests modulo 2^256. The sum does not depend
on the order rows arrive in and merges partial sums in O(1) memory, so two publishes of the same
rows get the same hash whatever their sharding, bundling or worker count. (It is a multiset hash:
it detects accidental change, not an adversary crafting rows to collide.) Versions published
before this release carry the earlier kind, the hash of the sorted digests (`content_hash_kind`
absent from their manifest).
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


CONTENT_HASH_KIND = "sha256(count, sum of row sha256 mod 2^256)"
_MODULUS = 1 << 256


def rows_hash(count: int, digest_sum: int) -> str:
    """A split's content hash from its row count and the sum of its row digests."""
    return hashlib.sha256(count.to_bytes(8, "big") + digest_sum.to_bytes(32, "big")).hexdigest()


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
    rows: int = 0
    digest_sum: int = 0  # mod 2^256
    classes: dict[str, Counter | None] = field(default_factory=dict)


def _capped(counter: Counter | None) -> Counter | None:
    return None if counter is None or len(counter) > MAX_CARD_CLASSES else counter


class SummariseSplitFn(beam.CombineFn):
    """Row count, content hash and class counts of one split. Holds a count, a 256-bit sum and up
    to MAX_CARD_CLASSES names per class column, however many rows there are."""

    def __init__(self, split: str, class_columns: tuple[str, ...] = ()) -> None:
        self._split = split
        self._class_columns = class_columns

    def create_accumulator(self) -> _Accumulator:
        return _Accumulator(classes={column: Counter() for column in self._class_columns})

    def add_input(self, accumulator: _Accumulator, row: dict[str, Any]) -> _Accumulator:
        accumulator.rows += 1
        accumulator.digest_sum = (accumulator.digest_sum
                                  + int.from_bytes(row_digest(row), "big")) % _MODULUS
        for column, counter in accumulator.classes.items():
            if counter is not None and row.get(column) is not None:
                counter[row[column]] += 1
                accumulator.classes[column] = _capped(counter)
        return accumulator

    def merge_accumulators(self, accumulators) -> _Accumulator:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged.rows += accumulator.rows
            merged.digest_sum = (merged.digest_sum + accumulator.digest_sum) % _MODULUS
            for column, counter in accumulator.classes.items():
                total = merged.classes[column]
                merged.classes[column] = (None if counter is None or total is None
                                          else _capped(total + counter))
        return merged

    def extract_output(self, accumulator: _Accumulator) -> SplitSummary:
        classes = {column: None if counter is None else dict(sorted(counter.items()))
                   for column, counter in accumulator.classes.items()}
        return SplitSummary(self._split, accumulator.rows,
                            rows_hash(accumulator.rows, accumulator.digest_sum), classes)
