"""QGen filter stage: `synthetic_queries`, the scored queries qgen published that are not copied
from their document, whose probability of the grade asked for reaches that grade's threshold,
and (with stages.qgen.round_trip_top_k) whose own document ranks in the top k.
No model runs here, so a threshold or copy-rule change re-decides in seconds from the same
scores; its settings live in `stages.qgen` with the rest of query generation."""

from dataclasses import dataclass

import apache_beam as beam

from pipelines.config import QgenConfig, RebuildConfig
from pipelines.stages.contract import DatasetRead, PlanError, Stage, StagePlan
from pipelines.stages.planning import Parent, latest_parent, planned_train_outputs, stage_section
from pipelines.stages.qgen import SCORED
from transforms.publish.transform import DatasetOutput, Publish
from transforms.qgen.filter_transform import DecisionSettings, KeepFaithfulQueries
from transforms.qgen.filters import calibrated_thresholds

QUERIES = "synthetic_queries"


@dataclass(frozen=True)
class QgenFilterPlan(StagePlan):
    scored: Parent
    settings: DecisionSettings


def _settings(config: RebuildConfig) -> QgenConfig:
    return stage_section(config, "qgen")


def thresholds(settings: QgenConfig, scored: Parent) -> dict[str, float]:
    """Each grade's threshold: the configured one, else the one chosen on the classifier's
    calibration slice (its threshold curves are in the scored version's manifest)."""
    calibration = (scored.manifest.get("reports", {}).get("classifier", {})
                   .get("calibration") or {})
    curves = calibration.get("threshold_curves")
    calibrated = calibrated_thresholds(curves) if curves else {}
    chosen = {}
    for grade in settings.grades:
        threshold = settings.faithfulness_threshold.get(grade, calibrated.get(grade))
        if threshold is None:
            raise PlanError(
                f"qgen_filter: no threshold for grade {grade!r}: the classifier's calibration "
                f"slice ({scored.dataset}@{scored.version}) had no {grade!r} judgement to choose "
                f"one on; set stages.qgen.faithfulness_threshold.{grade}")
        chosen[grade] = threshold
    return chosen


class QgenFilterStage(Stage[QgenFilterPlan]):
    name = "qgen_filter"
    kinds = ("synthetic_query",)

    def enabled(self, config: RebuildConfig) -> bool:
        return config.stages.qgen is not None

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        return [DatasetRead("stages.qgen", SCORED)]

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [QUERIES]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> QgenFilterPlan:
        settings = _settings(config)
        scored = latest_parent(config.root, SCORED, "qgen_filter")
        decision = DecisionSettings(
            grades=tuple(settings.grades), thresholds=thresholds(settings, scored),
            drop_copied=settings.drop_copied, faithfulness=settings.faithfulness,
            round_trip_top_k=settings.round_trip_top_k)
        section = {"drop_copied": decision.drop_copied, "faithfulness": decision.faithfulness,
                   "thresholds": decision.thresholds, "round_trip_top_k": decision.round_trip_top_k}
        planned = planned_train_outputs(
            config, self, ((QUERIES, "synthetic_query"),), section, [scored], run_id,
            started_at, settings.num_shards, scored.manifest.get("models", {}))
        return QgenFilterPlan(planned, scored, decision)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: QgenFilterPlan) -> None:
        result = pipeline | KeepFaithfulQueries(plan.settings, plan.scored.files(config.root))
        grades = plan.settings.grades
        pipeline | Publish("qgen_filter", plan.to_publish([
            DatasetOutput(plan.spec(QUERIES), {"train": result["queries"]}, result["drops"],
                          warnings=result["warnings"], reports=result["reports"],
                          class_names={"grade": grades, "classifier_grade": grades}),
        ]))


STAGE = QgenFilterStage()
