"""The consumer's side of the distill stage: read a published `distilled` version and pre-train a
student on it, as a fine-tuning job would before it trains on its own labels. Free of Beam
pipelines (the store's readers use Beam's filesystems, so a version on any store reads the same
way).

    from transforms.student.distilled import pretrain_on_distilled, read_distilled
    distilled = read_distilled("out/example")            # LATEST, or version="<id>"
    student = pretrain_on_distilled(distilled, seed=0)   # a TextStudent, head discarded
    table = TokenEmbeddingTable.load(distilled.table_model, distilled.student.max_len)
    # fine-tune `student` on table.encode(texts) with a new head (training.finetune_classifier)

The defaults are the ones `benchmarks/distill_quality.py` measured (BENCHMARKS.md, "Distill:
quality"): MSE onto the published targets (already in the stage's normalised teacher space)
through a throwaway linear head, AdamW at PRETRAIN_LR for PRETRAIN_EPOCHS epochs.
"""

from dataclasses import dataclass

import torch

from transforms.distill.targets import TargetNormaliser
from transforms.publish import store
from transforms.publish.catalog import DatasetRef, read_split
from transforms.student.model import StudentSettings, TextStudent
from transforms.student.training import pretrain_regression

DISTILLED = "distilled"
# 400 epochs of a 300-example set (2,000 steps, the reference's count) beat 100 on every
# seed in both fine-tuning regimes (BENCHMARKS.md, "Distill: quality", section 4).
PRETRAIN_EPOCHS = 400
PRETRAIN_LR = 1e-3


class NotDistilled(ValueError):
    """The version is missing, or is not a `distilled` dataset this code can read."""


@dataclass(frozen=True)
class DistilledSet:
    """One published version: the synthetic inputs and targets, the normalisation the targets
    are in, and the student architecture and table they were learned for."""

    version: str
    inputs_embeds: torch.Tensor  # (m, L, d)
    attention_mask: torch.Tensor  # (m, L)
    targets: torch.Tensor  # (m, t), normalised teacher space
    normaliser: TargetNormaliser
    student: StudentSettings
    table: str  # identity `model@hash-of-table` of the input space
    table_model: str  # where the stage loaded that table from


def read_distilled(root: str, version: str | None = None,
                   dataset: str = DISTILLED) -> DistilledSet:
    """A published `distilled` version (LATEST unless `version` is given) under `root`."""
    version = version or store.latest_version(root, dataset)
    if version is None or not store.is_published(root, dataset, version):
        raise NotDistilled(f"{store.join(root, dataset)}: no published version "
                           f"{version or '(no LATEST)'}")
    manifest = store.read_manifest(root, dataset, version)
    if manifest.get("kind") != "distilled":
        raise NotDistilled(f"{dataset}@{version} is a {manifest.get('kind')!r} dataset, not "
                           "'distilled'")
    rows = read_split(DatasetRef(root, dataset, version), "train",
                      ["id", "inputs_embeds", "attention_mask", "target"]).sort("id")
    config = manifest["config"]
    settings = config["distill"]
    normalisation = manifest.get("reports", {}).get("target_normalisation", {"kind": "none"})
    return DistilledSet(
        version=version,
        inputs_embeds=torch.tensor(rows["inputs_embeds"].to_list()),
        attention_mask=torch.tensor(rows["attention_mask"].to_list()).long(),
        targets=torch.tensor(rows["target"].to_list()),
        normaliser=TargetNormaliser.from_json(normalisation),
        student=StudentSettings(d_in=config["input_dim"], max_len=settings["sequence_length"],
                                **settings["student"]),
        table=manifest["models"]["table"], table_model=settings.get("table") or
        manifest["models"]["teacher"].rsplit("@", 1)[0])


def pretrain_on_distilled(distilled: DistilledSet, *, epochs: int = PRETRAIN_EPOCHS,
                          lr: float = PRETRAIN_LR, batch_size: int = 64,
                          seed: int = 0) -> TextStudent:
    """A fresh student of the set's architecture (seeded), trained by MSE onto the synthetic
    targets; returns it in eval mode, ready for a new head."""
    torch.manual_seed(seed)
    student = TextStudent(distilled.student)
    pretrain_regression(student, distilled.inputs_embeds, distilled.attention_mask,
                        distilled.targets, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    return student
