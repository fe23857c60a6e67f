"""Beam wiring for qgen: judgements + documents -> training triples -> (one worker) trained
models -> grade-conditioned generation through RunInference -> empty and repeated queries
dropped -> every grade's probability from the classifier -> optionally, the own document's rank
among sampled others (the keep decision is qgen_filter's)."""

import functools
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (
    ModelHandler,
    PredictionResult,
)
from apache_beam.pvalue import AsSingleton, TaggedOutput

from transforms import model_store
from transforms.batching import RunOnContentBatches, bucket_count
from transforms.dead_letters import later_stage_dead_letter, reason_count
from transforms.progress import ProgressLog
from transforms.publish.reading import ReadPublished
from transforms.qgen.chart import confusion_png
from transforms.qgen.classifier import ClassifierTraining, GradeClassifier, train_classifier
from transforms.qgen.diagnostics import calibration_warnings, classifier_warnings
from transforms.qgen.filters import Generated, filter_document_queries
from transforms.qgen.generator import Generator, GeneratorTraining, train_generator
from transforms.qgen.grades import GradeScheme, UnknownGrade, generator_input
from transforms.qgen.round_trip import (
    RoundTripSettings,
    checked,
    comparison_documents,
    own_document_rank,
    pool_priority,
    relevance,
)
from transforms.qgen.sampling import row_seed
from transforms.qgen.training import Triple, triple_priority

DEAD_LETTER = "dead_letter"
DROPS = "drops"
REPORTS = "reports"


@dataclass(frozen=True)
class QgenSettings:
    scheme: GradeScheme
    generator_training: GeneratorTraining
    classifier_training: ClassifierTraining
    # each model's own versioned folder (any Beam filesystem)
    generator_folder: str
    classifier_folder: str
    generator_identity: str
    queries_per_grade: int
    top_k: int
    top_p: float
    temperature: float
    batch_size: int
    length_sort_batches: int  # batches per length-sorted bucket; 0: no length sorting
    max_train_triples: int  # the bound on what the training worker holds; a seeded sample above
    threads: int | None  # torch threads while generating and judging; None: torch's default
    round_trip: RoundTripSettings
    target_rows: int  # documents to generate for, to size the buckets
    seed: int
    judgements: str
    judgements_version: str
    target: str
    target_version: str

    @property
    def conditioned(self) -> bool:
        return self.generator_training.conditioned

    @property
    def device(self) -> str:
        return self.generator_training.settings.device

    @property
    def generator_inputs(self) -> int:
        """Generator inputs expected: one per grade (or grade-less copy) per target document."""
        return self.target_rows * len(self.scheme.names)


class _TriplesFn(beam.DoFn):
    """(doc_id, {judgements, documents}) -> training triples, or dead letters."""

    def __init__(self, settings: QgenSettings) -> None:
        self._settings = settings

    def _dead(self, reason: str, field: str, detail: str, raw: str):
        s = self._settings
        Metrics.counter("qgen", f"{s.judgements}.{reason}").inc()
        return TaggedOutput(DEAD_LETTER, later_stage_dead_letter(
            "qgen", s.judgements, s.judgements_version, field, reason, detail, raw))

    def process(self, joined):
        doc_id, grouped = joined
        documents = list(grouped["documents"])
        for judgement in grouped["judgements"]:
            raw = f"{judgement['query']}\t{doc_id}\t{judgement['grade']:g}"
            if not documents:
                yield self._dead("unknown_document", "doc_id",
                                 f"no document with id {doc_id!r} in the documents dataset", raw)
                continue
            try:
                grade = self._settings.scheme.grade_of(judgement["grade"])
            except UnknownGrade as error:
                yield self._dead("unknown_grade", "grade", str(error), raw)
                continue
            yield Triple(judgement["query"], documents[0]["text"], grade)


class JudgementTriples(beam.PTransform):
    """{"judgements": rows, "documents": rows} -> {triples, dead_letters}."""

    def __init__(self, settings: QgenSettings) -> None:
        super().__init__(label="Judgements to training triples")
        self._settings = settings

    def expand(self, inputs):
        keyed = {
            "judgements": inputs["judgements"] | "Key judgements by doc" >> beam.Map(
                lambda row: (row["doc_id"], row)),
            "documents": inputs["documents"] | "Key documents by id" >> beam.Map(
                lambda row: (row["id"], {"text": row["text"]})),
        }
        result = (keyed | "Join judgements with documents" >> beam.CoGroupByKey()
                  | "Triples" >> beam.ParDo(_TriplesFn(self._settings)).with_outputs(
                      DEAD_LETTER, main="triples"))
        return {"triples": result.triples, "dead_letters": result[DEAD_LETTER]}


class TrainModelsFn(beam.DoFn):
    """One element in, the model folders out, after training (or finding) each model in its
    own versioned folder: a change to one model's version retrains only that one."""

    def __init__(self, settings: QgenSettings) -> None:
        self._settings = settings

    def process(self, _, triples):  # at most max_train_triples, a seeded sample
        s = self._settings
        triples = list(triples)
        train_generator(triples, s.generator_training, s.generator_folder)
        classifier = train_classifier(triples, s.classifier_training, s.classifier_folder)
        Metrics.counter("qgen", "training_triples").inc(len(triples))
        yield s.generator_folder, s.classifier_folder
        yield TaggedOutput(REPORTS, ("classifier", {
            "balance": classifier.get("balance"), "final_loss": classifier.get("final_loss"),
            "calibration": classifier.get("calibration")}))


class _GenerationInputsFn(beam.DoFn):
    """A target document -> one (key, (generator input, seed)) per grade (conditioned) or the
    same number of grade-less inputs (unconditioned). The seed is the input's own, from the
    rebuild seed, the document id, the grade and the copy, so its queries do not depend on which
    inputs share its batch. Waits for the trained models."""

    def __init__(self, settings: QgenSettings) -> None:
        self._settings = settings

    def process(self, row, models_ready):
        s = self._settings
        text = row["text"]
        if not text or not text.strip():
            Metrics.counter("qgen", f"{s.target}.empty_field").inc()
            yield TaggedOutput(DEAD_LETTER, later_stage_dead_letter(
                "qgen", s.target, s.target_version, "text", "empty_field",
                "a document with empty text cannot condition a query", text))
            return
        for copy, grade in enumerate(s.scheme.names):
            asked = grade if s.conditioned else None
            yield ((row["id"], asked, text, copy),
                   (generator_input(text, asked), row_seed(s.seed, row["id"], asked, copy)))


def _use_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


class GeneratorModelHandler(ModelHandler):
    """(generator input, seed) pairs in, `queries_per_grade` sampled queries per input out."""

    def __init__(self, settings: QgenSettings) -> None:
        super().__init__()  # batches come from RunOnContentBatches
        self._settings = settings

    def load_model(self) -> Generator:
        self._progress = ProgressLog("qgen: generated for", "inputs",
                                     total=self._settings.generator_inputs)
        _use_threads(self._settings.threads)
        folder = model_store.local_folder(self._settings.generator_folder, "generator")
        return Generator.load(folder, self._settings.device)

    def run_inference(self, batch, model, inference_args=None):
        s = self._settings
        training = s.generator_training.settings
        queries = model.generate([source for source, _ in batch], [seed for _, seed in batch],
                                 s.queries_per_grade, top_k=s.top_k, top_p=s.top_p,
                                 temperature=s.temperature,
                                 max_document_tokens=training.max_document_tokens,
                                 max_query_tokens=training.max_query_tokens)
        self._progress.add(len(batch))
        return [PredictionResult(item, generated) for item, generated in zip(batch, queries)]

    def get_metrics_namespace(self) -> str:
        return "qgen"


class ClassifierModelHandler(ModelHandler):
    """(query, document) pairs in, each grade's probability out; progress against `at_most`
    pairs (an upper bound: empty and repeated queries are dropped before scoring)."""

    def __init__(self, settings: QgenSettings, what: str, at_most: int) -> None:
        super().__init__()  # batches come from RunOnContentBatches
        self._settings = settings
        self._what = what
        self._at_most = at_most

    def load_model(self) -> GradeClassifier:
        self._progress = ProgressLog(self._what, "pairs", total=self._at_most, bound=True)
        _use_threads(self._settings.threads)
        folder = model_store.local_folder(self._settings.classifier_folder, "classifier")
        return GradeClassifier.load(folder, self._settings.device)

    def run_inference(self, batch, model, inference_args=None):
        probabilities = model.probabilities(
            [q for q, _ in batch], [d for _, d in batch],
            self._settings.classifier_training.settings.pair_tokens, batch_size=len(batch))
        self._progress.add(len(batch))
        return [PredictionResult(pair, row) for pair, row in zip(batch, probabilities)]

    def get_metrics_namespace(self) -> str:
        return "qgen"


def _generated(keyed_result):
    (doc_id, grade, text, _), result = keyed_result
    return [(doc_id, Generated(doc_id, text, grade, query)) for query in result.inference]


class _FilterDocumentFn(beam.DoFn):
    def process(self, grouped):
        _, queries = grouped
        kept, reasons = filter_document_queries(list(queries))
        for reason in reasons:
            Metrics.counter("qgen", reason).inc()
            yield TaggedOutput(DROPS, (reason, 1))
        yield from kept


class _ScoredRowFn(beam.DoFn):
    def __init__(self, settings: QgenSettings) -> None:
        self._settings = settings

    def process(self, keyed_result):
        item, result = keyed_result
        grades = self._settings.scheme.names
        predicted = grades[int(result.inference.argmax())]
        yield {"query": item.query, "doc_id": item.doc_id, "doc_text": item.doc_text,
               "grade": item.grade, "generator": self._settings.generator_identity,
               "seed": self._settings.seed, "classifier_grade": predicted,
               "grade_probabilities": _rounded(result.inference), "own_document_rank": None}
        yield TaggedOutput("judged", (item.grade, predicted))


def _rounded(probabilities) -> list[float]:
    """Published probabilities, and what every relevance comparison is computed from."""
    return [round(float(p), 6) for p in probabilities]


def _comparison_pairs(row, settings: QgenSettings, pool: list[tuple[str, str]]):
    """A scored row of a checked grade -> ((doc_id, query, other id), (query, other text)) for
    each sampled other document."""
    for other_id, other_text in comparison_documents(
            pool, row["doc_id"], row["query"], settings.round_trip.documents, settings.seed):
        yield (row["doc_id"], row["query"], other_id), (row["query"], other_text)


def _ranked_row(joined, scheme: GradeScheme):
    _, grouped = joined
    (row,) = grouped["row"]
    others = list(grouped["others"])
    own = relevance(row["grade_probabilities"], scheme)
    return {**row, "own_document_rank": own_document_rank(own, others)}


class RankOwnDocuments(beam.PTransform):
    """scored rows -> the same rows, those of checked grades (round_trip.checked) with
    `own_document_rank`: where their own document ranks by the classifier's expected rating
    among `round_trip.documents` others drawn from a seeded pool of target documents."""

    def __init__(self, settings: QgenSettings, target_documents: beam.PCollection) -> None:
        super().__init__(label="Rank own documents")
        self._settings = settings
        self._target_documents = target_documents

    def expand(self, rows):
        s = self._settings
        # The pool: at most round_trip.pool documents meet on one worker, then every scoring
        # worker holds them as a side input.
        pool = (self._target_documents
                | "Documents with text" >> beam.Filter(lambda row: bool((row["text"] or "")
                                                                        .strip()))
                | "Sample the pool" >> beam.combiners.Top.Of(
                    s.round_trip.pool, key=lambda row: pool_priority(row["id"], s.seed))
                | "Pool documents" >> beam.Map(
                    lambda rows: [(row["id"], row["text"]) for row in rows]))
        # Rows of an unchecked grade skip the comparisons and the join.
        unchecked, to_check = rows | "Checked grades" >> beam.Partition(
            lambda row, _: int(checked(row["grade"], s.scheme)), 2)
        pairs = to_check | "Comparison pairs" >> beam.FlatMap(
            _comparison_pairs, s, AsSingleton(pool))
        expected = s.generator_inputs * s.queries_per_grade * s.round_trip.documents
        others = (pairs
                  | "Score comparisons" >> RunOnContentBatches(
                      ClassifierModelHandler(s, "qgen: round-trip comparisons scored", expected),
                      s.batch_size,
                      bucket_count(expected, s.batch_size, s.length_sort_batches),
                      s.length_sort_batches > 0, label="Score comparisons")
                  | "Comparison relevance" >> beam.Map(
                      lambda kv: (kv[0][:2], relevance(_rounded(kv[1].inference), s.scheme))))
        keyed = to_check | "Key rows by query" >> beam.Map(
            lambda row: ((row["doc_id"], row["query"]), row))
        ranked = ({"row": keyed, "others": others}
                  | "Join comparisons" >> beam.CoGroupByKey()
                  | "Own document rank" >> beam.Map(_ranked_row, s.scheme))
        return (ranked, unchecked) | "Checked and unchecked rows" >> beam.Flatten()


class GenerateQueries(beam.PTransform):
    """Target documents -> {queries (scored_queries rows), drops, dead_letters, chart,
    warnings}.

    `models_ready`: a one-element PCollection (the model folders) that generation waits for."""

    def __init__(self, settings: QgenSettings, models_ready: beam.PCollection) -> None:
        super().__init__(label="Generate queries")
        self._settings = settings
        self._models_ready = models_ready

    def expand(self, documents):
        s = self._settings
        inputs = documents | "Generator inputs" >> beam.ParDo(
            _GenerationInputsFn(s), AsSingleton(self._models_ready)).with_outputs(
            DEAD_LETTER, main="inputs")
        # Batches made from the data alone: a query's inputs are the same on any runner.
        expected = s.generator_inputs
        by_length = s.length_sort_batches > 0
        generated = (
            inputs.inputs
            | "Generate" >> RunOnContentBatches(
                GeneratorModelHandler(s), s.batch_size,
                bucket_count(expected, s.batch_size, s.length_sort_batches), by_length,
                label="Generate")
            | "Queries per document" >> beam.FlatMap(_generated)
            | "Group queries by document" >> beam.GroupByKey()
            | "Drop empty and repeated queries" >> beam.ParDo(_FilterDocumentFn()).with_outputs(
                DROPS, main="kept"))
        judged = (
            generated.kept
            | "Pair with document" >> beam.Map(lambda item: (item, (item.query, item.doc_text)))
            | "Score grades" >> RunOnContentBatches(
                ClassifierModelHandler(s, "qgen: queries scored", expected * s.queries_per_grade),
                s.batch_size,
                bucket_count(expected * s.queries_per_grade, s.batch_size,
                             s.length_sort_batches), by_length, label="Score")
            | "Scored rows" >> beam.ParDo(_ScoredRowFn(s)).with_outputs("judged", main="rows"))
        rows = (judged.rows if not s.round_trip.documents
                else judged.rows | RankOwnDocuments(s, documents))
        title = f"{s.generator_identity}: grade asked for vs classifier grade"
        grades = s.scheme.names
        confusion = (judged.judged
                     | "Only conditioned pairs" >> beam.Filter(lambda pair: pair[0] is not None)
                     | "Count grade pairs" >> beam.combiners.Count.PerElement()
                     | "Grade pair counts" >> beam.combiners.ToDict())
        chart = confusion | "Confusion chart" >> beam.Map(
            lambda counts: ("grade_confusion.png", confusion_png(counts, grades, title)))
        warnings = confusion | "Classifier warnings" >> beam.FlatMap(
            classifier_warnings, grades)
        return {"queries": rows, "drops": generated[DROPS],
                "dead_letters": inputs[DEAD_LETTER],
                "chart": chart, "warnings": warnings}



class GenerateFromJudgements(beam.PTransform):
    """The whole qgen stage on published data: judgements joined with their documents train (or
    reuse) both models on one worker, then every target document gets its graded queries.

    Applied to the pipeline. Output dict: `queries` (scored_queries rows), `drops`, `chart`,
    `warnings` (for the card), `reports` (the classifier's record, for the manifest),
    `dead_letters` with `dead_letter_reasons`.
    """

    def __init__(self, settings: QgenSettings, judgements_files: list[str],
                 documents_files: list[str], target_files: list[str]) -> None:
        super().__init__(label="Scored queries")
        self._settings = settings
        self._files = {"judgements": judgements_files, "documents": documents_files,
                       "target documents": target_files}

    def expand(self, pbegin):
        read = {name: pbegin | ReadPublished(files, name) for name, files in self._files.items()}
        triples = {"judgements": read["judgements"],
                   "documents": read["documents"]} | JudgementTriples(self._settings)
        s = self._settings
        # The training worker holds at most max_train_triples: the ones with the largest seeded
        # hash, the same set on any runner (a combine keeps the top per worker, then merges).
        sampled = triples["triples"] | "Sample training triples" >> beam.combiners.Top.Of(
            s.max_train_triples, key=functools.partial(
                triple_priority, seed=s.generator_training.settings.seed))
        trained = (pbegin
                   | "One training" >> beam.Create([None])
                   | "Train or reuse models" >> beam.ParDo(
                       TrainModelsFn(s), beam.pvalue.AsSingleton(sampled)).with_outputs(
                       REPORTS, main="folders"))
        generated = read["target documents"] | GenerateQueries(self._settings, trained.folders)
        dead = ((triples["dead_letters"], generated["dead_letters"])
                | "All qgen dead letters" >> beam.Flatten())
        warnings = ((generated["warnings"], trained[REPORTS] | "Calibration warnings" >>
                     beam.FlatMap(lambda report: calibration_warnings(report[1])))
                    | "All qgen warnings" >> beam.Flatten())
        return {"queries": generated["queries"], "drops": generated["drops"],
                "chart": generated["chart"], "warnings": warnings, "reports": trained[REPORTS],
                "dead_letters": dead,
                "dead_letter_reasons": dead | "Key dead letters by reason" >> beam.Map(
                    reason_count)}
