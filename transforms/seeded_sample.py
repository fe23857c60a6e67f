"""A seeded sample defined by content: the n elements with the smallest priorities, the same on
every run, runner and worker count (Beam's Sample draws unseeded random numbers)."""

import functools
import hashlib
from collections.abc import Callable

import apache_beam as beam


def sample_priority(seed: int, content: str) -> str:
    """An element's place in the seeded order (smaller first)."""
    return hashlib.sha256(f"{seed}\0{content}".encode()).hexdigest()


def _priority_of(element, content: Callable, seed: int) -> str:
    return sample_priority(seed, content(element))


class SeededSample(beam.PTransform):
    """Elements -> the `n` whose `content(element)` has the smallest seeded priority.

    A combine: each worker keeps its n best and one worker merges them, so the bound on what a
    worker holds is n, whatever the input's size.
    """

    def __init__(self, n: int, content: Callable, seed: int, label: str) -> None:
        super().__init__(label=label)
        self._n = n
        self._key = functools.partial(_priority_of, content=content, seed=seed)

    def expand(self, elements):
        return (elements
                | "Smallest priorities" >> beam.combiners.Top.Of(
                    self._n, key=self._key, reverse=True)
                | "Sampled elements" >> beam.FlatMap(lambda sample: sample))
