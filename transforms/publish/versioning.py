"""Version ids: a hash of what determines a dataset's content, so unchanged inputs are a no-op.

version = sha256(dataset, stage, config section, input content hashes, parent versions, code version)[:12]

Input paths are left out on purpose: the same bytes at another path are the same input.
"""

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

_CHUNK = 1 << 20
# Source every stage's output depends on; each stage adds its own modules.
SHARED_CODE = ("transforms/publish", "schemas", "pipelines/config.py", "pipelines/stages/common.py")


def file_fingerprint(path: str) -> dict[str, Any]:
    """Content hash and size of one input file, streamed so large inputs are fine."""
    digest = hashlib.sha256()
    size = 0
    with FileSystems.open(path) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"path": path, "sha256": digest.hexdigest(), "bytes": size}


def folder_fingerprint(path: str) -> dict[str, Any]:
    """A saved Hugging Face dataset is a folder: hash its files in name order."""
    files = sorted(m.path for m in FileSystems.match([FileSystems.join(path, "**")])[0].metadata_list)
    digest = hashlib.sha256()
    size = 0
    for file in files:
        fingerprint = file_fingerprint(file)
        digest.update(f"{file[len(path):]}\0{fingerprint['sha256']}\n".encode())
        size += fingerprint["bytes"]
    return {"path": path, "sha256": digest.hexdigest(), "bytes": size}


def code_version(stage_code: tuple[str, ...]) -> str:
    """Package version plus a hash of the source that shapes a stage's output: its own modules
    (`stage_code`, files or packages relative to the project root) and the shared ones. Editing
    another stage, the CLI or the docs does not make a new version."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]
    for part in sorted({*SHARED_CODE, *stage_code}):
        path = root / part
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(root).as_posix().encode() + b"\0")
            digest.update(source.read_bytes())
    return f"{metadata.version('refinery')}+{digest.hexdigest()[:10]}"


def git_commit() -> str | None:
    """The commit the code was run from, when it runs from a git checkout."""
    repo = Path(__file__).resolve().parents[2]
    try:
        result = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def version_id(dataset: str, stage: str, config_section: Any, inputs: list[dict[str, Any]],
               parents: dict[str, str], code: str) -> str:
    """Deterministic id of a dataset version: equal ids mean equal content."""
    payload = json.dumps(
        {"dataset": dataset, "stage": stage, "config": config_section,
         "inputs": sorted(i["sha256"] for i in inputs),
         "parents": parents, "code": code},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
