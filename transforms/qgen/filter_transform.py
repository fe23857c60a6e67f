"""Beam wiring for qgen_filter: scored queries -> copied, unfaithful and (optionally) round-trip
inconsistent ones dropped (or marked) -> synthetic_queries rows, with how many of each grade
were scored and kept. Row by row: no model runs, no shuffle but the counts."""

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms.publish.reading import ReadPublished
from transforms.qgen.filters import copied_from_document, faithful_to_grade, round_trip_consistent

DROPS = "drops"
TALLIES = "tallies"


@dataclass(frozen=True)
class DecisionSettings:
    grades: tuple[str, ...]
    thresholds: dict[str, float]  # grade -> the probability of it a faithful query reaches
    drop_copied: str  # one of filters.COPY_RULES
    faithfulness: str  # "filter" or "annotate"
    round_trip_top_k: int | None  # the own document's rank a checked query needs; None: any


class _DecideFn(beam.DoFn):
    def __init__(self, settings: DecisionSettings) -> None:
        self._settings = settings

    def _drop(self, reason: str):
        Metrics.counter("qgen_filter", reason).inc()
        return TaggedOutput(DROPS, (reason, 1))

    def process(self, row):
        s = self._settings
        grade = row["grade"]
        yield TaggedOutput(TALLIES, ("scored", grade))
        if copied_from_document(row["query"], row["doc_text"], s.drop_copied):
            yield self._drop("copied_from_document")
            return
        faithful = faithful_to_grade(row["grade_probabilities"], grade, list(s.grades),
                                     s.thresholds)
        if s.faithfulness == "filter" and faithful is False:
            yield self._drop("unfaithful")
            return
        if not round_trip_consistent(row["own_document_rank"], s.round_trip_top_k):
            yield self._drop("not_round_trip_consistent")
            return
        yield TaggedOutput(TALLIES, ("kept", grade))
        yield {**row, "faithful": faithful}


def tally_report(counts: dict[tuple[str, str | None], int]) -> dict:
    """{("scored" | "kept", grade): n} -> {"scored": {grade: n}, "kept": {grade: n}}; the grade
    of an unconditioned query (None) counts as "none"."""
    report: dict = {"scored": {}, "kept": {}}
    for (what, grade), count in sorted(counts.items(), key=lambda kv: (kv[0][0],
                                                                       kv[0][1] or "")):
        report[what][grade or "none"] = count
    return report


def kept_grade_warnings(tallies: dict, grades: tuple[str, ...]) -> list[str]:
    """A warning per grade that was asked for but of which no query was kept: a fine-tuning job
    then sees no synthetic example of it."""
    scored, kept = tallies.get("scored", {}), tallies.get("kept", {})
    return [f"no `{grade}` query was kept of the {scored[grade]:,} scored: the published set has "
            f"no synthetic `{grade}` example; lower stages.qgen.faithfulness_threshold.{grade} "
            "(see the manifest's reports.filter and scored_queries' reports.classifier)"
            for grade in grades if scored.get(grade) and not kept.get(grade)]


class KeepFaithfulQueries(beam.PTransform):
    """scored_queries files -> {queries (synthetic_queries rows), drops, warnings, reports}."""

    def __init__(self, settings: DecisionSettings, scored_files: list[str]) -> None:
        super().__init__(label="Keep faithful queries")
        self._settings = settings
        self._files = scored_files

    def expand(self, pbegin):
        s = self._settings
        decided = (pbegin | ReadPublished(self._files, "scored queries")
                   | "Decide" >> beam.ParDo(_DecideFn(s)).with_outputs(DROPS, TALLIES,
                                                                         main="rows"))
        tallies = (decided[TALLIES]  # at most two keys per grade meet on one worker
                   | "Count by grade" >> beam.combiners.Count.PerElement()
                   | "Counts" >> beam.combiners.ToDict()
                   | "Tally report" >> beam.Map(tally_report))
        return {
            "queries": decided.rows, "drops": decided[DROPS],
            "warnings": tallies | "Kept-grade warnings" >> beam.FlatMap(kept_grade_warnings,
                                                                         s.grades),
            "reports": tallies | "Filter report" >> beam.Map(
                lambda counts: ("filter", {"thresholds": s.thresholds,
                                           "drop_copied": s.drop_copied,
                                           "round_trip_top_k": s.round_trip_top_k, **counts})),
        }
