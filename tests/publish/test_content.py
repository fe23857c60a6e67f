"""The content hash combines partial sums: the same rows give the same hash however a runner
splits, orders and merges them, in memory that does not grow with the rows."""

import random

from transforms.publish.content import SummariseSplitFn, row_digest, rows_hash

ROWS = [{"id": str(i), "text": f"text {i % 7}", "label": None} for i in range(200)]


def _summary_of(parts: list[list[dict]], order: list[int]):
    combine = SummariseSplitFn("train", ("label",))
    accumulators = []
    for part in parts:
        accumulator = combine.create_accumulator()
        for row in part:
            accumulator = combine.add_input(accumulator, row)
        accumulators.append(accumulator)
    return combine.extract_output(combine.merge_accumulators([accumulators[i] for i in order]))


def test_any_sharding_and_merge_order_gives_the_same_hash():
    whole = _summary_of([ROWS], [0])
    generator = random.Random(0)
    for _ in range(5):
        rows = ROWS[:]
        generator.shuffle(rows)
        cuts = sorted(generator.sample(range(1, len(rows)), 6))
        parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
        order = list(range(len(parts)))
        generator.shuffle(order)
        summary = _summary_of(parts, order)
        assert (summary.rows, summary.content_hash) == (whole.rows, whole.content_hash)


def test_the_hash_changes_with_a_row_a_duplicate_or_the_count():
    whole = _summary_of([ROWS], [0]).content_hash
    assert _summary_of([ROWS[:-1]], [0]).content_hash != whole
    assert _summary_of([ROWS + ROWS[:1]], [0]).content_hash != whole, "a multiset: repeats count"
    changed = [dict(ROWS[0], text="other"), *ROWS[1:]]
    assert _summary_of([changed], [0]).content_hash != whole
    digest = int.from_bytes(row_digest(ROWS[0]), "big")
    assert rows_hash(1, digest) != rows_hash(2, digest)


def test_the_accumulator_holds_no_rows():
    combine = SummariseSplitFn("train")
    accumulator = combine.create_accumulator()
    for row in ROWS:
        accumulator = combine.add_input(accumulator, row)
    assert set(vars(accumulator)) == {"rows", "digest_sum", "classes"}
    assert accumulator.rows == 200 and accumulator.digest_sum < 1 << 256
