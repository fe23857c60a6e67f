"""The distill stage's Beam-free pieces on the example corpus: the loss falls, a killed run resumes
exactly, and the readouts are what they claim."""

import json
import statistics
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from transforms.distill.checkpoints import CheckpointStore
from transforms.distill.krr_st import KrrStSettings
from transforms.distill.readout import coreset_indices, nearest_real, nearest_token_ids
from transforms.distill.real_texts import RealTexts, tokenize_batch
from transforms.distill.synthetic_set import (
    CorpusTooSmall,
    DistillSettings,
    RealNeighbours,
    coreset_rows,
    distill,
    distilled_rows,
    initial_rows,
)
from transforms.embed.encoder import DEFAULT_ENCODER, EncoderSettings, SentenceEncoder
from transforms.student.model import StudentSettings, TokenEmbeddingTable

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "data" / "catalogue.jsonl"
LENGTH = 24
STUDENT = StudentSettings(d_in=384, d_model=32, layers=1, heads=2, ff=64, max_len=LENGTH)


@pytest.fixture(scope="module")
def table() -> TokenEmbeddingTable:
    return TokenEmbeddingTable.load(max_len=LENGTH)


@pytest.fixture(scope="module")
def corpus(table) -> RealTexts:
    """The example catalogue, tokenised over the bundled table, with the bundled teacher's vectors."""
    rows = [json.loads(line) for line in CATALOGUE.read_text().splitlines()]
    texts = [row["description"] for row in rows]
    ids, lengths = tokenize_batch(table.tokenizer, texts, LENGTH)
    vectors = SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, 128, "cpu")).encode(texts)
    return RealTexts(torch.tensor(ids, dtype=torch.int32), torch.tensor(lengths),
                     torch.from_numpy(np.stack(vectors)),
                     pa.table({"id": [row["sku"] for row in rows], "text": texts,
                               "label": [row["category"] for row in rows]}))


def _settings(folder: Path, steps: int = 50, m: int = 16, every: int = 10,
              normalisation: str = "standardise") -> DistillSettings:
    return DistillSettings(
        krr=KrrStSettings(m=m, pool_size=3, pool_steps=10, real_batch=64, steps=steps, lr=3e-3,
                        seed=5),
        student=STUDENT, device="cpu", checkpoint_folder=str(folder), checkpoint_every=every,
        target_normalisation=normalisation)


@pytest.mark.parametrize("normalisation", ["standardise", "layer_norm", "none"])
def test_krr_st_regresses_onto_the_normalised_targets(tmp_path, corpus, table, normalisation):
    """The corpus the optimisation sees, and so Y_s at its start, is in the normalised space;
    the normaliser that made it is returned to be published."""
    result = distill(_settings(tmp_path, steps=1, m=12, normalisation=normalisation), corpus,
                     table)
    assert result.normaliser.kind == normalisation
    assert torch.allclose(result.real.targets, result.normaliser.normalise(corpus.targets))
    start = initial_rows(len(corpus), 12, 5)
    # One AdamW step at lr 3e-3 moves each entry of Y_s by at most about that much.
    assert torch.allclose(result.distiller.y_s.detach(), result.real.targets[start], atol=5e-3)
    if normalisation == "standardise":
        assert torch.allclose(result.real.targets.mean(0), torch.zeros(384), atol=1e-4)
        assert torch.allclose(result.normaliser.denormalise(result.real.targets), corpus.targets,
                              atol=1e-5)


def test_outer_loss_falls_over_50_steps_on_the_example_corpus(tmp_path, corpus, table):
    distiller = distill(_settings(tmp_path / "ckpt"), corpus, table).distiller
    assert distiller.step == 50 and len(distiller.losses) == 50
    first, last = statistics.mean(distiller.losses[:10]), statistics.mean(distiller.losses[-10:])
    assert last < 0.7 * first, (first, last)


class _Killed(RuntimeError):
    pass


def test_a_killed_run_resumes_from_its_checkpoint_exactly(tmp_path, corpus, table, monkeypatch):
    settings = _settings(tmp_path / "uninterrupted", steps=30)
    reference = distill(settings, corpus, table).distiller

    interrupted = _settings(tmp_path / "interrupted", steps=30)
    sampler = RealTexts.batch_sampler
    calls = {"n": 0}

    def dies_at_step_17(self, table, batch):
        sample = sampler(self, table, batch)  # the corpus distill built (normalised targets)

        def draw(generator):
            calls["n"] += 1
            if calls["n"] == 17:
                raise _Killed()
            return sample(generator)
        return draw

    with monkeypatch.context() as patch:
        patch.setattr(RealTexts, "batch_sampler", dies_at_step_17)
        with pytest.raises(_Killed):
            distill(interrupted, corpus, table)
    assert [p.name for p in (tmp_path / "interrupted").iterdir()] == ["step-00000010.pt"]

    # A new process would build the same objects.
    resumed = distill(interrupted, corpus, table).distiller
    assert resumed.losses == reference.losses
    assert torch.equal(resumed.x_s, reference.x_s) and torch.equal(resumed.y_s, reference.y_s)
    assert [p.name for p in (tmp_path / "interrupted").iterdir()] == ["step-00000030.pt"]


def test_a_corpus_smaller_than_m_is_a_clear_error(tmp_path, corpus, table):
    with pytest.raises(CorpusTooSmall, match="300 usable texts, fewer than m = 301"):
        distill(_settings(tmp_path, m=301), corpus, table)


def test_readouts_name_real_neighbours_and_a_distinct_coreset(tmp_path, corpus, table):
    result = distill(_settings(tmp_path, steps=5, m=12), corpus, table)
    nearest = RealNeighbours.of(result.distiller, result.real)
    rows = distilled_rows(result.distiller, result.real, table, nearest)
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    row = rows[0]
    assert len(row["inputs_embeds"]) == LENGTH and len(row["inputs_embeds"][0]) == 384
    assert len(row["target"]) == 384 and len(row["nearest_texts"]) == 3
    assert row["nearest_similarity"] == sorted(row["nearest_similarity"], reverse=True)
    assert row["token_reading"].startswith("[CLS]")
    coreset = coreset_rows(corpus, nearest)
    assert len({r["id"] for r in coreset}) == len(coreset) == 12
    assert all(json.loads(r["metadata"])["synthetic_id"].startswith("synthetic-") for r in coreset)


def test_nearest_real_scans_in_chunks_like_one_matrix_product():
    generator = torch.Generator().manual_seed(0)
    queries, real = torch.randn(7, 5, generator=generator), torch.randn(103, 5, generator=generator)
    index, sims = nearest_real(queries, real, k=4, chunk=10)
    expected = torch.nn.functional.normalize(queries, dim=1) @ \
        torch.nn.functional.normalize(real, dim=1).T
    top_sims, top_index = expected.topk(4, dim=1)
    assert torch.equal(index, top_index) and torch.allclose(sims, top_sims)


def test_nearest_tokens_of_table_rows_are_those_rows():
    table = torch.randn(50, 8, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([[3, 7, 49], [0, 0, 12]])
    assert torch.equal(nearest_token_ids(table[ids] * 2.5, table, chunk=4), ids)


def test_coreset_takes_the_next_free_neighbour():
    assert coreset_indices(torch.tensor([[4, 2], [4, 5], [4, 2]])) == [(0, 4), (1, 5), (2, 2)]
    assert coreset_indices(torch.tensor([[1], [1]])) == [(0, 1)]


def test_checkpoints_keep_only_the_latest(tmp_path):
    store = CheckpointStore(str(tmp_path / "ckpt"))
    assert store.latest() is None
    store.save({"step": 5}, 5)
    store.save({"step": 10}, 10)
    assert store.latest() == {"step": 10}
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["step-00000010.pt"]
