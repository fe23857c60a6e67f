"""Distill checkpoints live under the output root: loading one must never run code."""

import pickle

import pytest
import torch

from transforms.distill.checkpoints import CheckpointRefused, CheckpointStore


class _Planted:
    """Unpickling this writes a marker file: what a planted checkpoint could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_refused_without_running(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    marker = tmp_path / "ran"
    with open(folder / "step-00000010.pt", "wb") as handle:
        pickle.dump({"step": _Planted(str(marker))}, handle)
    with pytest.raises(CheckpointRefused, match="step-00000010.pt holds more than tensors"):
        CheckpointStore(str(folder)).latest()
    assert not marker.exists()


def test_a_real_checkpoint_loads_as_plain_tensors(tmp_path):
    store = CheckpointStore(str(tmp_path))
    store.save({"step": 3, "x": torch.ones(2), "rng": (3, (1, 2), None)}, 3)
    state = store.latest()
    assert state["step"] == 3 and torch.equal(state["x"], torch.ones(2))
