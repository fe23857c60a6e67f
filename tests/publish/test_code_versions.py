"""Which edits make which stages publish new versions: only code that can change a stage's rows
(its own module, the `transforms` it imports, its dataset contracts) is in its code version."""

import dataclasses
import shutil

import pytest

from pipelines.stages import STAGES
from schemas import datasets
from transforms.publish import versioning

GENERATOR, CLASSIFIER = "qgen generator", "qgen classifier"


def _versions() -> dict[str, str]:
    found = {name: versioning.code_version(stage.code_module, stage.kinds)
             for name, stage in STAGES.items()}
    found[GENERATOR] = versioning.code_version("transforms.qgen.generator")
    found[CLASSIFIER] = versioning.code_version("transforms.qgen.classifier")
    return found


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """The project's packages copied to a scratch folder that versioning reads from."""
    for package in ("pipelines", "transforms", "schemas"):
        shutil.copytree(versioning.PROJECT_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(versioning, "PROJECT_ROOT", tmp_path)
    return tmp_path


@pytest.mark.parametrize("path, changed", [
    ("transforms/ingest/readers.py", {"ingest"}),
    ("transforms/embed/handler.py", {"embed"}),
    ("transforms/embed/encoder.py", {"embed", "distill", "qgen", GENERATOR, CLASSIFIER}),
    ("transforms/vector_join.py", {"prune", "distill"}),
    ("transforms/distill/targets.py", {"distill"}),
    ("transforms/student/distilled.py", set()),  # the consumer recipe: no stage runs it
    ("transforms/dead_letters.py", {"ingest", "prune", "distill", "qgen"}),
    ("transforms/qgen/transform.py", {"qgen"}),
    ("transforms/qgen/filters.py", {"qgen", "qgen_filter"}),
    ("transforms/qgen/filter_transform.py", {"qgen_filter"}),
    ("transforms/qgen/round_trip.py", {"qgen"}),  # neither model's training code
    ("transforms/qgen/generator.py", {"qgen", GENERATOR}),
    ("transforms/qgen/classifier.py", {"qgen", CLASSIFIER}),
    ("transforms/qgen/training.py", {"qgen", GENERATOR, CLASSIFIER}),
    ("transforms/qgen/sampling.py", {"qgen", GENERATOR}),
    ("transforms/publish/transform.py", {"ingest", "embed", "prune", "distill", "qgen",
                                         "qgen_filter"}),
    ("pipelines/stages/prune.py", {"prune"}),
    ("pipelines/config.py", set()),
    ("pipelines/cli.py", set()),
    ("pipelines/stages/planning.py", set()),
    ("transforms/settings.py", {"ingest", "embed", "prune", "distill", "qgen"}),
    ("pipelines/stages/__init__.py", set()),
    ("transforms/progress.py", set()),
    ("transforms/publish/catalog.py", set()),
])
def test_a_code_edit_re_versions_only_the_stages_it_can_change(project_copy, path, changed):
    before = _versions()
    with open(project_copy / path, "a", encoding="utf-8") as handle:
        handle.write("\n_EDITED = 1\n")
    after = _versions()
    assert {name for name in before if before[name] != after[name]} == changed


def test_comments_and_docstrings_are_not_code(project_copy):
    before = _versions()
    path = project_copy / "transforms" / "prune" / "surrogates.py"
    text = path.read_text(encoding="utf-8")
    path.write_text('"""Reworded."""\n# a new comment\n' + text.split('"""', 2)[2], encoding="utf-8")
    assert _versions() == before


@pytest.mark.parametrize("kind, changed", [("scored_query", {"qgen"}),
                                           ("synthetic_query", {"qgen_filter"})])
def test_a_contract_edit_re_versions_only_the_stages_that_publish_that_kind(monkeypatch, kind,
                                                                           changed):
    before = _versions()
    contract = datasets.CONTRACTS[kind]
    monkeypatch.setitem(datasets.CONTRACTS, kind, dataclasses.replace(
        contract, expectations=contract.expectations[:-1]))
    after = _versions()
    assert {name for name in before if before[name] != after[name]} == changed
