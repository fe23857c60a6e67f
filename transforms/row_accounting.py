"""Row accounting: a stage counts its rows at each step and checks that they add up before it
publishes, so a step that loses rows (a bug, in refinery or in a runner) fails the run instead of
publishing fewer rows under the same version id.

Every count is a distributed Count.Globally; only the counts (a few numbers) meet on one worker.
"""

from dataclasses import dataclass

import apache_beam as beam


@dataclass(frozen=True)
class RowBalance:
    """The counts named in `parts` must add up to the count named `total`, or to `expected`
    (a number known before the run, e.g. the rows an input's manifest says it has)."""

    what: str  # says in words what `total` counts, for the error
    parts: tuple[str, ...]
    total: str | None = None
    expected: int | None = None


def unbalanced(balances: tuple[RowBalance, ...], counts: dict[str, int]) -> list[str]:
    """The problems: one sentence per balance whose parts do not add up."""
    problems = []
    for balance in balances:
        want = counts.get(balance.total, 0) if balance.total is not None else balance.expected
        got = sum(counts.get(part, 0) for part in balance.parts)
        if got != want:
            terms = " + ".join(f"{part} {counts.get(part, 0):,}" for part in balance.parts)
            problems.append(f"{balance.what}: {want:,}, but {terms} = {got:,} "
                            f"({want - got:+,} unaccounted for)")
    return problems


class CheckRowBalances(beam.PTransform):
    """Counts every named PCollection and yields one problem (a string) naming every balance
    that does not hold, or nothing; hand the output to Publish's `gates`."""

    def __init__(self, stage: str, counted: dict[str, beam.PCollection],
                 balances: tuple[RowBalance, ...]) -> None:
        super().__init__(label=f"Account for {stage} rows")
        self._stage = stage
        self._counted = counted
        self._balances = balances

    def expand(self, pbegin):
        stage, balances = self._stage, self._balances
        counts = [
            rows
            | f"Count {name}" >> beam.combiners.Count.Globally()
            | f"Name {name} count" >> beam.Map(lambda n, name=name: (name, n))
            for name, rows in sorted(self._counted.items())]
        return (counts
                | "All row counts" >> beam.Flatten()
                | "Gather row counts" >> beam.combiners.ToDict()
                | "Rows that do not add up" >> beam.FlatMap(_problem, stage, balances))


def _problem(counts: dict[str, int], stage: str, balances: tuple[RowBalance, ...]) -> list[str]:
    problems = unbalanced(balances, counts)
    if not problems:
        return []
    return [f"{stage}: rows do not add up (a bug, not bad input: please report it with this "
            f"run's log): " + "; ".join(problems)]
