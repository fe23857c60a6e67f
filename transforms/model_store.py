"""Models a stage makes and reuses (qgen's trained generator and classifier, embed's ONNX export),
on any Beam filesystem: one folder per model version under `<root>/.models/<stage>/`, reused by
every rebuild that would make the same one. Free of Beam pipelines.

    <models>/…               the model files (e.g. qgen's generator/ and classifier/)
    <models>/COMPLETE.json   written last: what was made and from what; without it the folder
                             is an interrupted run and is made again
"""

import json
import tempfile
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

COMPLETE = "COMPLETE.json"


def is_complete(folder: str) -> bool:
    return FileSystems.exists(FileSystems.join(folder, COMPLETE))


def read_complete(folder: str) -> dict[str, Any]:
    with FileSystems.open(FileSystems.join(folder, COMPLETE)) as handle:
        return json.loads(handle.read().decode("utf-8"))


def upload(local: str, folder: str, info: dict[str, Any]) -> None:
    """Copy a local folder's files to `folder`, then write the completion marker."""
    for path in sorted(Path(local).rglob("*")):
        if path.is_file():
            target = FileSystems.join(folder, *path.relative_to(local).parts)
            with FileSystems.create(target) as handle:  # makes local parent folders itself
                handle.write(path.read_bytes())
    with FileSystems.create(FileSystems.join(folder, COMPLETE)) as handle:
        handle.write(json.dumps(info, indent=2, sort_keys=True).encode("utf-8"))


def local_folder(folder: str, part: str) -> str:
    """A local path to `folder/part`: itself on a local filesystem, else a downloaded copy."""
    remote = FileSystems.join(folder, part)
    if "://" not in remote:
        return remote
    local = tempfile.mkdtemp(prefix=f"refinery-{part}-")
    prefix = remote.rstrip("/") + "/"
    for metadata in FileSystems.match([prefix + "**"])[0].metadata_list:
        target = Path(local, metadata.path[len(prefix):])
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileSystems.open(metadata.path) as handle:
            target.write_bytes(handle.read())
    return local
