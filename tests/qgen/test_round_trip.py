"""Round-trip consistency: the own document's rank among a seeded sample of other target
documents, published by qgen and decided on by qgen_filter."""

import pytest

from transforms.qgen.filters import round_trip_consistent
from transforms.qgen.grades import GradeScheme
from transforms.qgen.round_trip import (
    checked,
    comparison_documents,
    own_document_rank,
    pool_priority,
    relevance,
)

SCHEME = GradeScheme((("Irrelevant", 1.0), ("Partial", 2.0), ("Exact", 3.0)))
POOL = [(f"doc-{i}", f"text {i}") for i in range(30)]


def test_every_grade_but_the_lowest_rated_is_checked_and_unconditioned_queries_are():
    assert [checked(g, SCHEME) for g in ("Irrelevant", "Partial", "Exact", None)] == [
        False, True, True, True]
    reordered = GradeScheme((("Exact", 3.0), ("Irrelevant", 1.0), ("Partial", 2.0)))
    assert not checked("Irrelevant", reordered) and checked("Exact", reordered)


def test_comparison_documents_are_seeded_by_query_never_the_own_and_at_most_the_pool():
    first = comparison_documents(POOL, "doc-3", "cordless drill", 9, seed=0)
    assert first == comparison_documents(POOL, "doc-3", "cordless drill", 9, seed=0)
    assert len(first) == len({doc for doc, _ in first}) == 9
    assert "doc-3" not in {doc for doc, _ in first}
    assert first != comparison_documents(POOL, "doc-3", "hammer", 9, seed=0)
    assert first != comparison_documents(POOL, "doc-3", "cordless drill", 9, seed=1)
    assert len(comparison_documents(POOL[:4], "doc-3", "q", 9, seed=0)) == 3


def test_the_pool_priority_depends_on_the_seed_and_the_document_only():
    assert pool_priority("doc-1", 0) == pool_priority("doc-1", 0)
    assert pool_priority("doc-1", 0) != pool_priority("doc-1", 1)
    assert pool_priority("doc-1", 0) != pool_priority("doc-2", 0)


def test_relevance_is_the_expected_rating_and_ties_rank_the_own_document_first():
    assert relevance([0.2, 0.3, 0.5], SCHEME) == pytest.approx(0.2 + 0.6 + 1.5)
    assert own_document_rank(2.0, [1.0, 2.0, 2.5, 3.0]) == 3
    assert own_document_rank(3.0, []) == 1


@pytest.mark.parametrize("rank, top_k, kept", [
    (1, 1, True), (2, 1, False), (3, 3, True), (None, 1, True), (5, None, True)])
def test_a_query_is_round_trip_consistent_when_its_own_document_is_in_the_top_k(rank, top_k,
                                                                                  kept):
    assert round_trip_consistent(rank, top_k) is kept
