"""Content hashes over rows, independent of how Beam happened to shard them.

Each row is serialised canonically (sorted keys, no whitespace) and hashed; a split's hash is the
hash of its row digests in sorted order. Two publishes of the same rows get the same hash whatever
their file layout.
"""

import hashlib
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SplitSummary:
    split: str
    rows: int
    content_hash: str


class SummariseSplitFn(beam.CombineFn):
    """Row count and content hash of one split. Holds 32 bytes per row on the combining worker."""

    def __init__(self, split: str) -> None:
        self._split = split

    def create_accumulator(self) -> list[bytes]:
        return []

    def add_input(self, accumulator: list[bytes], row: dict[str, Any]) -> list[bytes]:
        accumulator.append(row_digest(row))
        return accumulator

    def merge_accumulators(self, accumulators) -> list[bytes]:
        merged: list[bytes] = []
        for accumulator in accumulators:
            merged.extend(accumulator)
        return merged

    def extract_output(self, accumulator: list[bytes]) -> SplitSummary:
        return SplitSummary(self._split, len(accumulator), digests_hash(accumulator))
