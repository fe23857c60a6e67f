import pytest

from transforms.qgen.filters import (
    Generated,
    copied_from_document,
    faithful_to_grade,
    filter_document_queries,
)
from transforms.qgen.grades import GradeScheme, UnknownGrade, generator_input, normalise_query

SCHEME = GradeScheme((("Irrelevant", 1.0), ("Partial", 2.0), ("Exact", 3.0)))


@pytest.mark.parametrize("rating, grade", [(1.0, "Irrelevant"), (1.49, "Irrelevant"),
                                           (1.5, "Partial"), (2.33, "Partial"), (2.67, "Exact"),
                                           (3.0, "Exact")])
def test_ratings_round_half_up_onto_grades(rating, grade):
    assert SCHEME.grade_of(rating) == grade


def test_a_rating_no_grade_defines_is_named():
    with pytest.raises(UnknownGrade, match="rating 4 rounds to 4, which no grade defines"):
        SCHEME.grade_of(4.0)


def test_generator_input_carries_the_grade_unless_unconditioned():
    assert generator_input("a red kettle", "Exact") == "grade: Exact | document: a red kettle"
    assert generator_input("a red kettle", None) == "document: a red kettle"
    assert normalise_query("  Red  Kettle?! ") == "red kettle"


def test_filters_drop_empty_and_duplicate_queries_with_reasons():
    doc = "A red enamel kettle for gas and induction hobs."
    queries = [Generated("d1", doc, "Exact", q) for q in ("red kettle", " ", "Red Kettle.")]
    queries += [Generated("d1", doc, "Partial", "Red Enamel Kettle"),
                Generated("d1", doc, "Partial", "blue teapot")]
    kept, reasons = filter_document_queries(queries)
    assert sorted((k.grade, k.query) for k in kept) == [("Exact", "red kettle"),
                                                         ("Partial", "blue teapot"),
                                                         ("Partial", "red enamel kettle")]
    assert sorted(reasons) == ["duplicate_query", "empty_query"]


@pytest.mark.parametrize("rule, copied", [("contained", [True, True, False]),
                                          ("whole", [False, True, False]),
                                          ("off", [False, False, False])])
def test_copy_rules(rule, copied):
    doc = "Red Enamel Kettle."
    queries = ["enamel kettle", "red enamel kettle", "blue teapot"]
    assert [copied_from_document(q, doc, rule) for q in queries] == copied


def test_a_query_is_faithful_when_its_grade_reaches_that_grade_s_threshold():
    grades = ["Irrelevant", "Partial", "Exact"]
    thresholds = {"Irrelevant": 0.3, "Partial": 0.5, "Exact": 0.6}
    probabilities = [0.3, 0.45, 0.25]  # Partial is the most probable, yet below its threshold
    assert faithful_to_grade(probabilities, "Irrelevant", grades, thresholds) is True
    assert faithful_to_grade(probabilities, "Partial", grades, thresholds) is False
    assert faithful_to_grade(probabilities, None, grades, thresholds) is None


def _settings(conditioned: bool):
    from transforms.qgen.classifier import ClassifierTraining
    from transforms.qgen.generator import GeneratorTraining
    from transforms.qgen.round_trip import RoundTripSettings
    from transforms.qgen.training import TrainSettings
    from transforms.qgen.transform import QgenSettings

    train = TrainSettings(steps=1, batch_size=1, lr=1e-4, seed=0, device="cpu",
                          max_document_tokens=128, max_query_tokens=16)
    return QgenSettings(
        scheme=SCHEME, generator_training=GeneratorTraining("g", conditioned, train, 1),
        classifier_training=ClassifierTraining("c", tuple(SCHEME.names), train, 1),
        generator_folder="/g", classifier_folder="/c", generator_identity="g@v", queries_per_grade=2, top_k=50, top_p=0.95,
        temperature=1.0, batch_size=8, length_sort_batches=1, max_train_triples=10,
        threads=None, round_trip=RoundTripSettings(0, 10), target_rows=1, seed=0, judgements="j", judgements_version="v1", target="docs",
        target_version="v2")


@pytest.mark.parametrize("conditioned", [True, False])
def test_each_document_gets_one_generator_input_per_grade(conditioned):
    from transforms.qgen.transform import _GenerationInputsFn

    outputs = list(_GenerationInputsFn(_settings(conditioned)).process(
        {"id": "d1", "text": "a red kettle"}, "/m"))
    assert [key[:2] for key, _ in outputs] == [
        ("d1", grade if conditioned else None) for grade in SCHEME.names]
    assert outputs[0][1][0] == ("grade: Irrelevant | document: a red kettle" if conditioned
                                else "document: a red kettle")
    seeds = [seed for _, (_, seed) in outputs]
    assert len(set(seeds)) == len(seeds)  # every input samples with its own seed


def test_a_document_with_empty_text_is_a_dead_letter():
    from transforms.qgen.transform import _GenerationInputsFn

    [dead] = _GenerationInputsFn(_settings(True)).process({"id": "d1", "text": "  "}, "/m")
    assert dead.tag == "dead_letter" and dead.value["reason"] == "empty_field"
    assert dead.value["source"] == "docs" and dead.value["file"] == "docs@v2"
