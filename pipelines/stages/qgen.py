"""QGen stage: `synthetic_queries` (grade-conditioned queries per document, judged by a grade
classifier) and `dead_letter_qgen`. The trained generator and classifier live in a model folder
versioned by their training inputs and settings, so a rebuild reuses them."""

import apache_beam as beam

from pipelines.config import QgenConfig, RebuildConfig
from pipelines.stages.common import (
    PlanError,
    PlannedDataset,
    latest_parent,
    plan_train_outputs,
    read_parent,
    require_device,
    require_split,
    stage_settings,
)
from transforms.embed.encoder import DEFAULT_ENCODER, EncoderUnavailable, encoder_identity
from transforms.publish import store, versioning
from transforms.publish.transform import DatasetOutput, Publish
from transforms.qgen.grades import GradeScheme
from transforms.qgen.models import DEFAULT_GENERATOR, TrainSettings
from transforms.qgen.training import QgenTraining
from transforms.qgen.transform import (
    GenerateQueries,
    JudgementTriples,
    QgenSettings,
    TrainModelsFn,
)

QUERIES = "synthetic_queries"
DEAD_LETTER = "dead_letter_qgen"
TRAINING_KEYS = ("grades", "mode", "generator", "classifier", "train_steps", "classifier_steps",
                 "train_batch_size", "lr", "classifier_lr", "max_document_tokens",
                 "max_query_tokens")


def enabled(config: RebuildConfig) -> bool:
    return config.stages.qgen is not None


def reads(config: RebuildConfig) -> list[tuple[str, str]]:
    settings = _settings(config)
    names = [("judgements", settings.judgements), ("documents", settings.documents),
             ("target", settings.target)]
    return [(f"stages.qgen.{key}", name) for key, name in names if name is not None]


def outputs(config: RebuildConfig) -> list[str]:
    return [QUERIES, DEAD_LETTER]


def _settings(config: RebuildConfig) -> QgenConfig:
    return stage_settings(config, "qgen")


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


def models_folder(config: RebuildConfig, version: str) -> str:
    return store.join(config.root, ".models", "qgen", version)


def plan(config: RebuildConfig, run_id: str, started_at: float) -> list[PlannedDataset]:
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
    training = {key: getattr(settings, key) for key in TRAINING_KEYS}
    # The models depend on the training code, not on how their queries are published.
    code = versioning.code_version(TrainModelsFn.__module__)
    model_version = versioning.version_id(
        "qgen_models", "qgen", {"training": training, "seed": train_seed(config), **identities},
        [],
        {p.dataset: p.version for p in (judgements, documents)}, code)
    models = {"generator": f"{settings.generator}@{model_version}",
              "classifier": f"{settings.classifier}@{model_version}",
              "models_folder": models_folder(config, model_version)}
    section = {"qgen": settings.model_dump(), "seed": config.seed, **identities}
    parents = [judgements, documents] + ([target] if target.dataset != documents.dataset else [])
    return plan_train_outputs(
        config, "qgen", ((QUERIES, "synthetic_query"), (DEAD_LETTER, "dead_letter")), section,
        parents, __name__, run_id, started_at, settings.num_shards, models,
        (judgements, documents, target))


def build(pipeline: beam.Pipeline, config: RebuildConfig, planned: list[PlannedDataset]) -> None:
    settings = _settings(config)
    judgements, documents, target = planned[0].context
    spec = {item.spec.dataset: item.spec for item in planned}
    queries_spec = spec[QUERIES]

    def train(steps: int, lr: float) -> TrainSettings:
        return TrainSettings(steps=steps, batch_size=settings.train_batch_size, lr=lr,
                             seed=train_seed(config), device=settings.device,
                             max_document_tokens=settings.max_document_tokens,
                             max_query_tokens=settings.max_query_tokens)

    scheme = GradeScheme(tuple(settings.grades.items()))
    qgen = QgenSettings(
        scheme=scheme,
        training=QgenTraining(settings.generator, settings.classifier, tuple(scheme.names),
                              settings.mode == "conditioned",
                              train(settings.train_steps, settings.lr),
                              train(settings.classifier_steps, settings.classifier_lr)),
        models=queries_spec.models["models_folder"],
        generator_identity=queries_spec.models["generator"],
        queries_per_grade=settings.queries_per_grade, top_k=settings.top_k,
        top_p=settings.top_p, temperature=settings.temperature, batch_size=settings.batch_size,
        length_sort_window=settings.batch_size * settings.length_sort_batches,
        drop_copied=settings.drop_copied, faithfulness=settings.faithfulness, seed=config.seed,
        judgements=judgements.dataset, judgements_version=judgements.version,
        target=target.dataset, target_version=target.version)
    triples = {
        "judgements": read_parent(pipeline, config.root, judgements, "judgements",
                                  [settings.judgements_split]),
        "documents": read_parent(pipeline, config.root, documents, "documents",
                                 [settings.documents_split]),
    } | JudgementTriples(qgen)
    models_ready = (pipeline
                    | "One training" >> beam.Create([None])
                    | "Train or reuse models" >> beam.ParDo(
                        TrainModelsFn(qgen), beam.pvalue.AsList(triples["triples"])))
    generated = (read_parent(pipeline, config.root, target, "target documents",
                             [settings.target_split])
                 | GenerateQueries(qgen, models_ready))
    dead = ((triples["dead_letters"], generated["dead_letters"])
            | "All qgen dead letters" >> beam.Flatten())
    reasons = dead | "Key dead letters by reason" >> beam.Map(lambda r: (r["reason"], 1))
    outputs = [
        DatasetOutput(queries_spec, {"train": generated["queries"]}, generated["drops"],
                      attachments=generated["chart"]),
        DatasetOutput(spec[DEAD_LETTER], {"train": dead}, reasons),
    ]
    unchanged = {item.spec.dataset for item in planned if item.unchanged}
    pipeline | Publish("qgen", [o for o in outputs if o.spec.dataset not in unchanged])
