import numpy as np
import pytest

from transforms.prune.fixed_point import to_fixed
from transforms.prune.label_mapping import (
    VoteTally,
    commonest_domain,
    rank_classes,
    retained_count,
)


def _tally(classes, votes):
    """votes: list of (probabilities, target label)."""
    tally = VoteTally(tuple(classes))
    for probabilities, label in votes:
        tally.add(np.asarray(probabilities, dtype=float), label)
    return tally


def test_ranks_by_votes_then_probability_mass_then_name():
    tally = _tally("abcd", [([0.1, 0.6, 0.2, 0.1], "x"), ([0.1, 0.5, 0.3, 0.1], "y"),
                            ([0.5, 0.2, 0.2, 0.1], "x")])
    ranking = rank_classes(tally, keep=2)
    assert [r.source_class for r in ranking] == ["b", "a", "c", "d"]
    assert [r.votes for r in ranking] == [2, 1, 0, 0]
    assert [r.kept for r in ranking] == [True, True, False, False]
    assert ranking[0].share == pytest.approx(2 / 3)
    assert ranking[0].top_target_classes == ["x", "y"]


def test_zero_vote_ties_fall_back_to_class_name():
    tally = _tally("zyx", [([0.0, 1.0, 0.0], None)])
    tally.probability_mass_fixed = to_fixed(np.array([0.0, 1.0, 0.0]))
    assert [r.source_class for r in rank_classes(tally, keep=1)] == ["y", "x", "z"]


def test_merge_equals_one_big_tally():
    votes = [([0.7, 0.3], "p"), ([0.2, 0.8], "q"), ([0.6, 0.4], "q")]
    whole = _tally("ab", votes)
    merged = _tally("ab", votes[:1]).merge(_tally("ab", votes[1:]))
    for a, b in zip(rank_classes(whole, 1), rank_classes(merged, 1), strict=True):
        assert (a.source_class, a.votes, a.rank, a.kept) == (b.source_class, b.votes, b.rank, b.kept)
        assert a.probability_mass == pytest.approx(b.probability_mass)


@pytest.mark.parametrize(("n", "retain", "ratio", "expected"), [
    (150, 30, None, 30), (150, None, 0.8, 30), (10, None, 0.0, 10), (3, None, 0.99, 1)])
def test_retained_count(n, retain, ratio, expected):
    assert retained_count(n, retain, ratio) == expected


@pytest.mark.parametrize(("n", "retain", "ratio", "message"), [
    (1, 1, None, "at least 2"), (5, 6, None, "the source has 5 classes"),
    (5, None, None, "exactly one"), (5, 2, 0.5, "exactly one"), (5, None, 1.0, "prune_ratio")])
def test_retained_count_errors(n, retain, ratio, message):
    with pytest.raises(ValueError, match=message):
        retained_count(n, retain, ratio)


def test_each_ranked_class_carries_its_commonest_domain():
    assert commonest_domain([(3, "kitchen"), (5, "home"), (5, "garden")]) == (5, "garden")
    tally = VoteTally(classes=("a", "b"))
    tally.add(np.array([0.9, 0.1]), None)
    ranking = rank_classes(tally, keep=1, domains={"a": "kitchen"})
    assert [(r.source_class, r.domain) for r in ranking] == [("a", "kitchen"), ("b", None)]
