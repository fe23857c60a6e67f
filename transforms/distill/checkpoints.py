"""Checkpoints of a distillation run, on any Beam filesystem. Free of Beam pipelines.

One folder per dataset version: a rerun of the same version (same config, inputs and code) finds
the last checkpoint of a killed run and resumes from it. A checkpoint is written to a temporary
name and renamed, so a crash while writing leaves the previous one usable.
"""

import io
import re
from typing import Any

import torch
from apache_beam.io.filesystems import FileSystems

_NAME = re.compile(r"step-(\d{8})\.pt$")


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
        with FileSystems.open(steps[-1][1]) as handle:
            return torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=False)

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
