"""QGen stage: `scored_queries` (grade-conditioned queries per document, each with every grade's
probability from a grade classifier) and `dead_letter_qgen`; the keep decision is the
qgen_filter stage's, so changing it re-runs no model. The trained generator and classifier each
live in a model folder versioned by what can change that model alone (its training inputs,
settings, base weights and training code), so a rebuild reuses each one it can."""

from dataclasses import dataclass

import apache_beam as beam

from pipelines.config import QgenConfig, RebuildConfig
from pipelines.stages.contract import DatasetRead, PlanError, Stage, StagePlan
from pipelines.stages.planning import (
    Parent,
    latest_parent,
    planned_train_outputs,
    require_device,
    require_split,
    stage_section,
)
from transforms.embed.encoder import DEFAULT_ENCODER, EncoderUnavailable, encoder_identity
from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish
from transforms.qgen import classifier as classifier_code
from transforms.qgen import generator as generator_code
from transforms.qgen.classifier import ClassifierTraining
from transforms.qgen.generator import DEFAULT_GENERATOR, GeneratorTraining
from transforms.qgen.grades import GradeScheme
from transforms.qgen.round_trip import RoundTripSettings
from transforms.qgen.training import TrainSettings
from transforms.qgen.transform import GenerateFromJudgements, QgenSettings
from transforms.settings import settings_from

SCORED = "scored_queries"
DEAD_LETTER = "dead_letter_qgen"
# The config keys of the keep decision: qgen_filter's, which versions them; not this stage's.
DECISION_KEYS = {"drop_copied", "faithfulness", "faithfulness_threshold", "round_trip_top_k"}
# The config keys that can change each trained model (the rest only shape generation). The
# grade names reach the generator through its conditioned inputs, the ratings through which
# judgements become which grade (and so the training triples of both).
TRAINING_KEYS = {
    "generator": ("grades", "mode", "generator", "train_steps", "train_batch_size", "lr",
                  "max_document_tokens", "max_query_tokens", "max_train_triples",
                  "train_threads", "device"),
    "classifier": ("grades", "classifier", "classifier_steps", "train_batch_size",
                   "classifier_lr", "classifier_balance", "calibration_fraction",
                   "max_document_tokens", "max_query_tokens", "max_train_triples",
                   "train_threads", "device"),
}
MODEL_CODE = {"generator": generator_code.__name__, "classifier": classifier_code.__name__}


@dataclass(frozen=True)
class QgenPlan(StagePlan):
    judgements: Parent
    documents: Parent
    target: Parent


def _settings(config: RebuildConfig) -> QgenConfig:
    return stage_section(config, "qgen")


def _identity(name: str, what: str) -> str:
    """A base model's identity (`name@hash-of-weights`), or a PlanError when it is not on disk."""
    location = DEFAULT_ENCODER if name == DEFAULT_GENERATOR else name
    try:
        identity = encoder_identity(location)
    except EncoderUnavailable as error:
        raise PlanError(f"qgen: {what} {name!r} cannot be loaded offline: {error}") from None
    return f"{name}({identity})" if name == DEFAULT_GENERATOR else identity


def train_seed(config: RebuildConfig) -> int:
    """The seed models are trained with; generation always samples with the rebuild seed."""
    settings = _settings(config)
    return config.seed if settings.train_seed is None else settings.train_seed


def models_folder(config: RebuildConfig, model: str, version: str) -> str:
    return store.join(config.root, ".models", "qgen", model, version)


class QgenStage(Stage[QgenPlan]):
    name = "qgen"
    kinds = ("scored_query", "dead_letter")

    def enabled(self, config: RebuildConfig) -> bool:
        return config.stages.qgen is not None

    def reads(self, config: RebuildConfig) -> list[DatasetRead]:
        settings = _settings(config)
        names = [("judgements", settings.judgements), ("documents", settings.documents),
                 ("target", settings.target)]
        return [DatasetRead(f"stages.qgen.{key}", name) for key, name in names if name is not None]

    def publishes(self, config: RebuildConfig) -> list[str]:
        return [SCORED, DEAD_LETTER]

    def plan(self, config: RebuildConfig, run_id: str, started_at: float) -> QgenPlan:
        settings = _settings(config)
        judgements = latest_parent(config.root, settings.judgements, "qgen")
        documents = latest_parent(config.root, settings.documents, "qgen")
        target = latest_parent(config.root, settings.target or settings.documents, "qgen")
        require_split("qgen", judgements, "judgement", settings.judgements_split)
        require_split("qgen", documents, "document", settings.documents_split)
        require_split("qgen", target, "document", settings.target_split)
        require_device("qgen", settings.device)
        identities = {"generator_base": _identity(settings.generator, "generator"),
                      "classifier_base": _identity(settings.classifier, "classifier")}
        models = {}
        for model, keys in TRAINING_KEYS.items():
            # Each model depends on its own training code, not on the other model's, nor on
            # how queries are generated, filtered or published.
            version = versioning.version_id(
                f"qgen_{model}", "qgen",
                {"training": {key: getattr(settings, key) for key in keys},
                 "seed": train_seed(config), "base": identities[f"{model}_base"]}, [],
                {p.dataset: p.version for p in (judgements, documents)},
                versioning.code_version(MODEL_CODE[model]))
            models[model] = f"{getattr(settings, model)}@{version}"
            models[f"{model}_folder"] = models_folder(config, model, version)
        section = {"qgen": settings.model_dump(exclude=DECISION_KEYS), "seed": config.seed,
                   **identities}
        parents = [judgements, documents] + ([target] if target.dataset != documents.dataset
                                             else [])
        planned = planned_train_outputs(
            config, self, ((SCORED, "scored_query"), (DEAD_LETTER, "dead_letter")), section,
            parents, run_id, started_at, settings.num_shards, models)
        return QgenPlan(planned, judgements, documents, target)

    def build(self, pipeline: beam.Pipeline, config: RebuildConfig, plan: QgenPlan) -> None:
        settings = _settings(config)
        spec = plan.spec(SCORED)
        seed = train_seed(config)
        scheme = GradeScheme(tuple(settings.grades.items()))
        qgen = settings_from(
            settings, QgenSettings, scheme=scheme,
            generator_training=GeneratorTraining(
                base=settings.generator, conditioned=settings.mode == "conditioned",
                threads=settings.train_threads,
                settings=settings_from(settings, TrainSettings, steps=settings.train_steps,
                                       batch_size=settings.train_batch_size, seed=seed)),
            classifier_training=ClassifierTraining(
                base=settings.classifier, grades=tuple(scheme.names),
                threads=settings.train_threads, balance=settings.classifier_balance,
                calibration_fraction=settings.calibration_fraction,
                settings=settings_from(settings, TrainSettings, steps=settings.classifier_steps,
                                       batch_size=settings.train_batch_size,
                                       lr=settings.classifier_lr, seed=seed)),
            round_trip=RoundTripSettings(settings.round_trip_documents,
                                         settings.round_trip_pool),
            generator_folder=spec.models["generator_folder"],
            classifier_folder=spec.models["classifier_folder"],
            generator_identity=spec.models["generator"],
            target_rows=plan.target.manifest["splits"][settings.target_split]["rows"],
            seed=config.seed, judgements=plan.judgements.dataset,
            judgements_version=plan.judgements.version, target=plan.target.dataset,
            target_version=plan.target.version)
        result = pipeline | GenerateFromJudgements(
            qgen, plan.judgements.files(config.root, [settings.judgements_split]),
            plan.documents.files(config.root, [settings.documents_split]),
            plan.target.files(config.root, [settings.target_split]))
        pipeline | Publish("qgen", plan.to_publish([
            DatasetOutput(spec, {"train": result["queries"]}, result["drops"],
                          attachments=result["chart"], warnings=result["warnings"],
                          reports=result["reports"],
                          class_names={"grade": tuple(scheme.names),
                                       "classifier_grade": tuple(scheme.names)}),
            DatasetOutput(plan.spec(DEAD_LETTER), {"train": result["dead_letters"]},
                          result["dead_letter_reasons"]),
        ]))


STAGE = QgenStage()
