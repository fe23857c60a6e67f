"""Distil a materialised real corpus into the published synthetic set and coreset. Free of Beam."""

import json
from dataclasses import dataclass, replace

import torch

from transforms.distill.checkpoints import CheckpointStore
from transforms.distill.krr_st import KrrStDistiller, KrrStSettings
from transforms.distill.optimise import run_outer_steps
from transforms.distill.readout import coreset_indices, nearest_real, nearest_token_ids
from transforms.distill.real_texts import RealTexts
from transforms.distill.targets import TargetNormalisation, TargetNormaliser
from transforms.student.model import StudentSettings, TokenEmbeddingTable

NEIGHBOURS = 3  # nearest real texts published per synthetic example
CORESET_CANDIDATES = 16  # how far down its neighbour list a synthetic example looks for a free text


class CorpusTooSmall(ValueError):
    """Fewer usable real texts than synthetic examples to initialise from them."""


@dataclass(frozen=True)
class DistillSettings:
    krr: KrrStSettings
    student: StudentSettings
    device: str
    checkpoint_folder: str
    checkpoint_every: int
    # How the teacher's vectors are normalised before KRR-ST regresses onto them (targets.py).
    target_normalisation: TargetNormalisation = "standardise"


@dataclass(frozen=True)
class Distilled:
    """A finished (or resumed) optimisation, with the corpus as it saw it: `real.targets` are
    the normalised teacher vectors, the space Y_s lives in."""

    distiller: KrrStDistiller
    real: RealTexts
    normaliser: TargetNormaliser


def initial_rows(n_real: int, m: int, seed: int) -> torch.Tensor:
    """m distinct real rows, drawn with `seed`, that X_s and Y_s start from."""
    if n_real < m:
        raise CorpusTooSmall(f"the corpus has {n_real:,} usable texts, fewer than m = {m:,} "
                             "synthetic examples; lower m or distil a larger corpus")
    return torch.randperm(n_real, generator=torch.Generator().manual_seed(seed))[:m]


def distill(settings: DistillSettings, real: RealTexts, table: TokenEmbeddingTable) -> Distilled:
    """Normalise the teacher targets with the corpus' own statistics, initialise from m random
    real texts and run (or resume) all outer steps."""
    normaliser = TargetNormaliser.fit(settings.target_normalisation, real.targets)
    real = replace(real, targets=normaliser.normalise(real.targets))
    start = initial_rows(len(real), settings.krr.m, settings.krr.seed)
    embeds, mask, targets = real.inputs(table, start)
    distiller = KrrStDistiller(settings.krr, settings.student, embeds, mask, targets,
                               device=settings.device)
    run_outer_steps(distiller, real.batch_sampler(table, settings.krr.real_batch),
                    CheckpointStore(settings.checkpoint_folder), settings.checkpoint_every)
    return Distilled(distiller, real, normaliser)


def synthetic_id(row: int) -> str:
    return f"synthetic-{row:06d}"


@dataclass(frozen=True)
class RealNeighbours:
    """The real texts nearest (teacher space, cosine) to each synthetic target, most similar
    first: one scan of the corpus serves both the published neighbours and the coreset."""

    index: torch.Tensor  # (m, k) rows of the corpus
    similarity: torch.Tensor  # (m, k)

    @classmethod
    def of(cls, distiller: KrrStDistiller, real: RealTexts) -> "RealNeighbours":
        return cls(*nearest_real(distiller.y_s.detach().cpu(), real.targets, CORESET_CANDIDATES))

    def coreset(self) -> list[tuple[int, int]]:
        """(synthetic row, corpus row) pairs of the coreset: distinct texts."""
        return coreset_indices(self.index)


def distilled_rows(distiller: KrrStDistiller, real: RealTexts, table: TokenEmbeddingTable,
                   nearest: RealNeighbours) -> list[dict]:
    """One row per synthetic example: inputs, mask, target, readings and real neighbours."""
    x_s = distiller.x_s.detach().cpu()
    mask = distiller.mask_s.cpu()
    y_s = distiller.y_s.detach().cpu()
    tokens = nearest_token_ids(x_s, table.weight)  # (m, L)
    neighbours = nearest.index[:, :NEIGHBOURS]
    similarity = nearest.similarity[:, :NEIGHBOURS]
    ids, texts = real.rows.column("id").to_pylist(), real.rows.column("text").to_pylist()
    rows = []
    for row in range(len(x_s)):
        length = int(mask[row].sum())
        reading = table.tokenizer.decode(tokens[row, :length].tolist())
        rows.append({
            "id": synthetic_id(row),
            "inputs_embeds": x_s[row].tolist(),
            "attention_mask": mask[row].tolist(),
            "target": y_s[row].tolist(),
            "token_reading": reading,
            "nearest_ids": [ids[i] for i in neighbours[row].tolist()],
            "nearest_texts": [texts[i] for i in neighbours[row].tolist()],
            "nearest_similarity": similarity[row].tolist(),
        })
    return rows


def coreset_rows(real: RealTexts, nearest: RealNeighbours) -> list[dict]:
    """The coreset's real texts as documents."""
    columns = {name: real.rows.column(name).to_pylist() for name in ("id", "text", "label")}
    rows = []
    for row, index in nearest.coreset():
        rank = nearest.index[row].tolist().index(index)
        rows.append({
            "id": columns["id"][index], "text": columns["text"][index],
            "label": columns["label"][index], "domain": None,
            "metadata": json.dumps({"synthetic_id": synthetic_id(row),
                                    "similarity": round(float(nearest.similarity[row, rank]), 6)}),
        })
    return rows
