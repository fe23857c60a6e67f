"""Label mapping (Zhang et al., NeurIPS 2023): every target example votes for its arg-max source
class under a surrogate source model; the top-K voted source classes are kept. Free of Beam.

Scoring (the tally) and deciding (the ranking with its cut) are separate steps, so a different K
re-ranks the same tally without touching a model.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from transforms.prune.fixed_point import from_fixed, to_fixed


@dataclass
class VoteTally:
    """Votes, summed surrogate probability, and which target classes voted, per source class."""

    classes: tuple[str, ...]
    votes: Counter = field(default_factory=Counter)
    # (C,) summed probabilities in fixed point, so partial tallies merge to the same bits in
    # any order
    probability_mass_fixed: np.ndarray | None = None
    voters: dict[str, Counter] = field(default_factory=dict)
    examples: int = 0

    def add(self, probabilities: np.ndarray, target_label: str | None) -> None:
        """One target example with its (C,) surrogate probabilities."""
        winner = self.classes[int(np.argmax(probabilities))]
        self.votes[winner] += 1
        fixed = to_fixed(probabilities)
        self.probability_mass_fixed = (fixed if self.probability_mass_fixed is None
                                       else self.probability_mass_fixed + fixed)
        if target_label is not None:
            self.voters.setdefault(winner, Counter())[target_label] += 1
        self.examples += 1

    @property
    def probability_mass(self) -> np.ndarray:
        """(C,) summed surrogate probability per source class."""
        if self.probability_mass_fixed is None:
            return np.zeros(len(self.classes))
        return from_fixed(self.probability_mass_fixed)

    def merge(self, other: "VoteTally") -> "VoteTally":
        self.votes.update(other.votes)
        if other.probability_mass_fixed is not None:
            self.probability_mass_fixed = (
                other.probability_mass_fixed.copy() if self.probability_mass_fixed is None
                else self.probability_mass_fixed + other.probability_mass_fixed)
        for source_class, counter in other.voters.items():
            self.voters.setdefault(source_class, Counter()).update(counter)
        self.examples += other.examples
        return self


@dataclass(frozen=True)
class ClassRank:
    """One row of the `class_ranking` dataset."""

    source_class: str
    votes: int
    share: float
    probability_mass: float
    rank: int
    kept: bool
    top_target_classes: list[str]
    domain: str | None = None


def commonest_domain(counted: Iterable[tuple[int, str]]) -> tuple[int, str]:
    """Of (record count, domain) pairs, the most common domain, ties to the first name: a combine
    that gives the same answer in any order."""
    return min(counted, key=lambda pair: (-pair[0], pair[1]))


def retained_count(n_classes: int, retain_classes: int | None, prune_ratio: float | None) -> int:
    """K, the number of source classes to keep, from exactly one of the two settings."""
    if n_classes < 2:
        raise ValueError(f"the source has {n_classes} class(es); pruning needs at least 2")
    if (retain_classes is None) == (prune_ratio is None):
        raise ValueError("set exactly one of retain_classes and prune_ratio")
    if retain_classes is not None:
        if not 1 <= retain_classes <= n_classes:
            raise ValueError(f"retain_classes={retain_classes} but the source has {n_classes} "
                             "classes; choose 1.." + str(n_classes))
        return retain_classes
    assert prune_ratio is not None
    if not 0.0 <= prune_ratio < 1.0:
        raise ValueError(f"prune_ratio={prune_ratio} must be in [0, 1)")
    return max(1, round(n_classes * (1.0 - prune_ratio)))


def rank_classes(tally: VoteTally, keep: int, domains: dict[str, str] | None = None,
                 top_voters: int = 3) -> list[ClassRank]:
    """Order by votes desc, then summed probability desc, then class name; keep the first K.

    Many classes get zero votes, so the tie-breaks decide most of the cut: they are explicit here
    rather than left to a top-k implementation's order. The probability mass is compared rounded
    to 9 decimals (it is summed in fixed point, so the order of Beam's partial sums cannot
    change it anyway).
    """
    mass = tally.probability_mass
    order = sorted(range(len(tally.classes)),
                   key=lambda i: (-tally.votes[tally.classes[i]], -round(float(mass[i]), 9),
                                  tally.classes[i]))
    total = max(tally.examples, 1)
    ranking = []
    for rank, index in enumerate(order, start=1):
        name = tally.classes[index]
        voters = tally.voters.get(name, Counter())
        ranking.append(ClassRank(
            source_class=name, votes=tally.votes[name], share=tally.votes[name] / total,
            probability_mass=float(mass[index]), rank=rank, kept=rank <= keep,
            top_target_classes=[label for label, _ in
                                sorted(voters.items(), key=lambda kv: (-kv[1], kv[0]))[:top_voters]],
            domain=(domains or {}).get(name),
        ))
    return ranking
