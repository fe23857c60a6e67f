"""The on-disk layout of published datasets, on any Beam filesystem (local, gs://, ...).

    <root>/<dataset>/<version>/data/<split>-00000-of-0000N.parquet
    <root>/<dataset>/<version>/README.md        dataset card (Hugging Face `configs` front matter)
    <root>/<dataset>/<version>/validation.json  Great Expectations result
    <root>/<dataset>/<version>/manifest.json    written last: a version without it is not published
    <root>/<dataset>/LATEST                     the current version id
    <root>/<dataset>/README.md                  index card: every version a `datasets` config
    <root>/<dataset>/.staging/<version>-<run>/  work in progress, never read by consumers
    <root>/<dataset>/.staging/<version>-checkpoints/  resumable state of a long stage

A version becomes visible only when its manifest exists, and LATEST is replaced by a rename, so a
crash at any point leaves either the old state or the new one.
"""

import contextlib
import json
import os
import posixpath
import re
import time
from typing import Any

from apache_beam.io.filesystems import FileSystems

MANIFEST = "manifest.json"
LATEST = "LATEST"
STAGING = ".staging"
ASSEMBLED = "version"  # inside a staging folder: the version folder being assembled


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


# What a dataset name or a version id may be: one plain path segment (no `/`, no `..`), so no
# name read from a command line or a LATEST file can point outside the root.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def version_dir(root: str, dataset: str, version: str) -> str:
    for name in (dataset, version):
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a dataset name or version id")
    return join(root, dataset, version)


def staging_dir(root: str, dataset: str, version: str, run_id: str) -> str:
    return join(root, dataset, STAGING, f"{version}-{run_id}")


def checkpoint_dir(root: str, dataset: str, version: str) -> str:
    """Where a long stage checkpoints a version; shared by all runs of it, so a rerun resumes."""
    return join(root, dataset, STAGING, f"{version}-checkpoints")


def write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write(text.encode("utf-8"))


def read_text(path: str) -> str:
    with FileSystems.open(path) as handle:
        return handle.read().decode("utf-8")


def write_json(path: str, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def is_published(root: str, dataset: str, version: str) -> bool:
    return FileSystems.exists(join(version_dir(root, dataset, version), MANIFEST))


class ManifestError(ValueError):
    """A manifest that cannot be read as a JSON object; names the file."""


def read_manifest(root: str, dataset: str, version: str) -> dict[str, Any]:
    path = join(version_dir(root, dataset, version), MANIFEST)
    try:
        manifest = json.loads(read_text(path))
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: not a readable manifest: {error}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: not a readable manifest: not a JSON object")
    return manifest


def data_files(root: str, dataset: str, version: str, manifest: dict[str, Any],
               splits: list[str] | None = None) -> list[str]:
    """Full paths of a published version's Parquet files (all splits, or the ones named)."""
    final = version_dir(root, dataset, version)
    return [join(final, f) for split, info in sorted(manifest["splits"].items())
            if splits is None or split in splits for f in info["files"]]


class LatestError(ValueError):
    """A LATEST that is not a file naming a version (a folder, or a path); names the file."""


def latest_version(root: str, dataset: str) -> str | None:
    path = join(root, dataset, LATEST)
    if not FileSystems.exists(path):
        return None
    if "://" not in path and os.path.isdir(path):
        raise LatestError(f"{path} is a folder, not a LATEST file; remove it")
    version = read_text(path).strip() or None
    if version is not None and not NAME.fullmatch(version):
        raise LatestError(f"{path} names {version[:40]!r}, which is not a version id")
    return version


def set_latest(root: str, dataset: str, version: str, run_id: str) -> None:
    """Point LATEST at a published version by writing a temporary file and renaming it over."""
    if not is_published(root, dataset, version):
        raise FileNotFoundError(f"{dataset}@{version} is not published under {root}")
    target = join(root, dataset, LATEST)
    if "://" not in target and os.path.isdir(target):
        raise IsADirectoryError(f"{target} is a folder, not a LATEST file; remove it and rerun "
                                f"(this run published {dataset}@{version})")
    replace_text(target, version + "\n", run_id)


def replace_text(path: str, text: str, run_id: str) -> None:
    """Write a file beside `path` and rename it over, so readers see the old text or the new."""
    folder, name = posixpath.split(path) if "://" in path else os.path.split(path)
    temporary = join(folder, f".{name}.{run_id}")
    write_text(temporary, text)
    try:
        FileSystems.rename([temporary], [path])
    except Exception:
        FileSystems.delete([temporary])  # no stray temporary file
        raise


def _folder_files(path: str) -> list[str]:
    """Every file under a folder-like path; object stores have no folders to test for."""
    return [m.path for m in FileSystems.match([path.rstrip("/") + "/**"])[0].metadata_list]


def delete_folder(path: str) -> None:
    files = _folder_files(path)
    if files:
        FileSystems.delete(files)
    if "://" not in path and FileSystems.exists(path):  # local: the now empty folders
        FileSystems.delete([path])


def _children(path: str) -> list[str]:
    """Immediate child names of a folder-like path."""
    prefix = path.rstrip("/") + "/"
    names = set()
    for file in _folder_files(path):
        relative = file[len(prefix):]
        if relative:
            names.add(relative.split("/", 1)[0])
    return sorted(names)


def list_datasets(root: str) -> list[str]:
    return [name for name in _children(root) if NAME.fullmatch(name)]


def published_manifests(root: str, dataset: str) -> dict[str, dict[str, Any]]:
    """Published versions and their manifests, oldest first by publish time; each read once."""
    manifests = {v: read_manifest(root, dataset, v) for v in _children(join(root, dataset))
                 if NAME.fullmatch(v) and v != LATEST and is_published(root, dataset, v)}
    return dict(sorted(manifests.items(), key=lambda item: item[1].get("published_at", 0.0)))


def list_versions(root: str, dataset: str) -> list[str]:
    """Published versions, oldest first by publish time."""
    return list(published_manifests(root, dataset))


def promote(staging: str, files: list[str], final: str, manifest: dict[str, Any]) -> None:
    """Move staged files (paths relative to `staging`) into the version folder, manifest last.

    A version that is already published is left alone (a retried or concurrent run built the
    same content). On a local filesystem the files and manifest are assembled in a folder inside
    staging that then becomes the version folder by one rename, so a concurrent run of the same
    version cannot mix its files in. Object stores have no folder rename: files move one by one
    and the manifest is written after them. A folder left by a crash during an earlier promote has
    no manifest; it is cleared first.
    """
    if FileSystems.exists(join(final, MANIFEST)):
        delete_folder(staging)
        return
    local = "://" not in final
    target = join(staging, ASSEMBLED) if local else final
    if not local:
        delete_folder(final)
    parents = sorted({posixpath.dirname(join(target, f)) for f in files} | {target})
    for parent in parents:  # object stores have no folders; a local filesystem needs them
        if local and not FileSystems.exists(parent):
            FileSystems.mkdirs(parent)
    FileSystems.rename([join(staging, f) for f in files], [join(target, f) for f in files])
    write_json(join(target, MANIFEST), manifest)
    if local:
        _rename_folder(target, final)
    delete_folder(staging)
    if local:  # the dataset's .staging folder too, unless other runs or checkpoints are in it
        with contextlib.suppress(OSError):
            os.rmdir(posixpath.dirname(staging.rstrip("/")))


def _rename_folder(assembled: str, final: str, attempts: int = 3) -> None:
    """Make `assembled` the version folder in one step. A folder already there without a manifest
    (left by a crash of an earlier promote) is moved aside into staging, not deleted in place, so
    a concurrent run that just finished the same version never sees its folder partly deleted."""
    for attempt in range(attempts):
        try:
            os.rename(assembled, final)
            return
        except OSError:
            if FileSystems.exists(join(final, MANIFEST)):
                return  # a concurrent run published the same version first
            if attempt == attempts - 1:
                raise
            with contextlib.suppress(FileNotFoundError):  # another run may have moved it
                os.rename(final, f"{assembled}.replaced-{attempt}")


RUNS = ".runs"


def record_stage_run(root: str, stage: str, run_id: str, versions: dict[str, str]) -> None:
    """Remember which versions a run made current for a stage's datasets, so the stage can be
    rolled back as a whole (`<root>/.runs/<stage>/<time>-<run>.json`); a run that changed
    nothing adds no record."""
    records = stage_runs(root, stage)
    if records and records[-1]["versions"] == versions:
        return
    now = time.time()
    write_json(join(root, RUNS, stage, f"{now:017.6f}-{run_id}.json"),
               {"stage": stage, "run_id": run_id, "recorded_at": now, "versions": versions})


def stage_runs(root: str, stage: str) -> list[dict[str, Any]]:
    """A stage's run records, oldest first."""
    pattern = join(root, RUNS, stage, "*.json")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    return [json.loads(read_text(path)) for path in paths]
