"""Round-trip consistency (as Promptagator filters its queries): a query should bring back the
document it was generated from. Here the grade classifier scores the query against its own
document and a seeded sample of other target documents; the own document's rank among them is
published, and qgen_filter may keep a query only when that rank is in the top k. Free of Beam.

The other documents come from a bounded pool (`round_trip_pool` target documents with the
largest seeded hash, the same set on any runner), so no worker holds the whole target."""

import hashlib
from dataclasses import dataclass

import numpy as np

from transforms.qgen.grades import GradeScheme
from transforms.qgen.sampling import row_seed


@dataclass(frozen=True)
class RoundTripSettings:
    documents: int  # other target documents each checked query is scored against; 0: off
    pool: int  # target documents the others are drawn from (held by every scoring worker)


def pool_priority(doc_id: str, seed: int) -> bytes:
    """A document's place in the seeded pool: the pool is the documents with the largest
    priority, whatever the runner or the order they arrive in."""
    return hashlib.sha256(f"{seed}\0round-trip\0{doc_id}".encode()).digest()


def checked(grade: str | None, scheme: GradeScheme) -> bool:
    """Whether a query's own document should outrank others: every grade but the lowest-rated
    one (a query asked to be irrelevant should not bring its document back), and every
    unconditioned query (asked for none, generated as a positive)."""
    if grade is None:
        return True
    lowest = min(scheme.values, key=lambda item: item[1])[0]
    return grade != lowest


def comparison_documents(pool: list[tuple[str, str]], own_id: str, query: str, count: int,
                         seed: int) -> list[tuple[str, str]]:
    """`count` (id, text) pool documents other than the query's own, drawn with a generator
    seeded from the seed, the document and the query: the same draw in any bundle."""
    others = [document for document in pool if document[0] != own_id]
    rng = np.random.default_rng(row_seed(seed, "round-trip", own_id, query))
    picks = rng.choice(len(others), size=min(count, len(others)), replace=False)
    return [others[index] for index in sorted(picks)]


def relevance(probabilities: list[float], scheme: GradeScheme) -> float:
    """The classifier's expected rating of a pair: the grades' ratings weighted by their
    probabilities, one score to rank documents by."""
    return float(sum(p * rating for p, (_, rating) in zip(probabilities, scheme.values)))


def own_document_rank(own: float, others: list[float]) -> int:
    """1 + how many other documents score strictly higher than the query's own (ties favour
    the own document)."""
    return 1 + sum(score > own for score in others)
