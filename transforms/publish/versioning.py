"""Version ids: a hash of what determines a dataset's content, so unchanged inputs are a no-op.

version = sha256(dataset, stage, config section, inputs, parent versions, code version)[:12]

Inputs count with their source and path, in plan order: the same bytes under another name or in
another source's split are a different input, since rows record their file and duplicates resolve
by source order and file name.
"""

import ast
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

_CHUNK = 1 << 20
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("pipelines", "transforms", "schemas")


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


def _module_files(module: str) -> list[Path]:
    """The project source files that importing `module` runs: the module and its packages."""
    parts = module.split(".")
    files = [PROJECT_ROOT.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts) + 1)]
    files.append(PROJECT_ROOT.joinpath(*parts).with_suffix(".py"))
    return [f for f in files if f.is_file()]


def _imported_modules(source: Path, module: str) -> set[str]:
    """Project modules a source file imports, at the top or inside functions."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source.read_bytes(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules, if any
    return {name for name in found if name.split(".")[0] in PROJECT_PACKAGES}


def code_files(module: str) -> list[Path]:
    """Every project source file `module` depends on through its imports, followed transitively."""
    seen: set[Path] = set()
    pending = [module]
    visited_modules: set[str] = set()
    while pending:
        name = pending.pop()
        if name in visited_modules:
            continue
        visited_modules.add(name)
        for source in _module_files(name):
            if source in seen:
                continue
            seen.add(source)
            dotted = ".".join(source.relative_to(PROJECT_ROOT).with_suffix("").parts)
            pending.extend(_imported_modules(source, dotted.removesuffix(".__init__")))
    return sorted(seen)


def code_version(module: str) -> str:
    """Package version plus a hash of the source that shapes a stage's output: `module` (a dotted
    name) and every project module it imports, transitively. Editing another stage, the CLI or
    the docs does not make a new version; editing a helper the stage borrows does."""
    digest = hashlib.sha256()
    for source in code_files(module):
        digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    return f"{_package_version()}+{digest.hexdigest()[:10]}"


def _package_version() -> str:
    """The installed package's version; `unknown` when the code runs from an uninstalled checkout."""
    try:
        return metadata.version("refinery")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit() -> str | None:
    """The commit the code was run from, with `-dirty` when tracked files differ from it; None
    unless the project itself is a git checkout (not, say, a wheel inside another repository)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != PROJECT_ROOT:
            return None
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if commit and dirty else commit or None


def version_id(dataset: str, stage: str, config_section: Any, inputs: list[dict[str, Any]],
               parents: dict[str, str], code: str) -> str:
    """Deterministic id of a dataset version: equal ids mean equal content."""
    payload = json.dumps(
        {"dataset": dataset, "stage": stage, "config": config_section,
         "inputs": [[i.get("source"), i["path"], i["sha256"]] for i in inputs],
         "parents": parents, "code": code},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
