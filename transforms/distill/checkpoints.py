"""Checkpoints of a distillation run, on any Beam filesystem. Free of Beam pipelines.

One folder per dataset version: a rerun of the same version (same config, inputs and code) finds
the last checkpoint of a killed run and resumes from it. A checkpoint is written to a temporary
name and renamed, so a crash while writing leaves the previous one usable. Checkpoints hold only
tensors and plain values and are loaded with `weights_only=True`: the folder is under the output
root, and a file planted there must not run code.
"""

import io
import pickle
import re
from typing import Any

import torch
from apache_beam.io.filesystems import FileSystems

_NAME = re.compile(r"step-(\d{8})\.pt$")


class CheckpointRefused(RuntimeError):
    """A checkpoint file that would need unpickling arbitrary objects to load."""


class CheckpointStore:
    def __init__(self, folder: str) -> None:
        self.folder = folder.rstrip("/")

    def _steps(self) -> list[tuple[int, str]]:
        pattern = FileSystems.join(self.folder, "step-*.pt")
        found = []
        for metadata in FileSystems.match([pattern])[0].metadata_list:
            match = _NAME.search(metadata.path)
            if match:
                found.append((int(match.group(1)), metadata.path))
        return sorted(found)

    def latest(self) -> dict[str, Any] | None:
        """The state of the furthest checkpoint, or None when there is none."""
        steps = self._steps()
        if not steps:
            return None
        path = steps[-1][1]
        with FileSystems.open(path) as handle:
            data = handle.read()
        try:  # tensors and plain values only: a planted file cannot run code here
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise CheckpointRefused(
                f"checkpoint {path} holds more than tensors and plain values, so it was not "
                f"loaded (it may have been planted); delete it to start the distillation "
                f"again: {str(error).splitlines()[0]}") from None

    def save(self, state: dict[str, Any], step: int) -> str:
        """Write `state` as the checkpoint of `step`, then delete older ones."""
        older = self._steps()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        final = FileSystems.join(self.folder, f"step-{step:08d}.pt")
        temporary = final + ".partial"
        with FileSystems.create(temporary) as handle:
            handle.write(buffer.getvalue())
        FileSystems.rename([temporary], [final])
        stale = [path for s, path in older if s != step]
        if stale:
            FileSystems.delete(stale)
        return final
