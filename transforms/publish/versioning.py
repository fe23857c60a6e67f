"""Version ids: a hash of what determines a dataset's content, so unchanged inputs are a no-op.

version = sha256(dataset, stage, config section, inputs, parent versions, code version)[:12]

Inputs count with their source and path, in plan order: the same bytes under another name or in
another source's split are a different input, since rows record their file and duplicates resolve
by source order and file name.
"""

import ast
import hashlib
import io
import json
import subprocess
import tokenize
from importlib import metadata
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

from schemas.datasets import contract_for

_CHUNK = 1 << 20
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A stage's code version follows its imports into these packages: the code that computes rows.
# `pipelines` (planning, config, CLI) is not followed: every config value that shapes a dataset is
# hashed into its version directly. `schemas` counts through the contracts of the kinds published.
FOLLOWED_PACKAGES = ("transforms",)
# Imported by stages but unable to change a row: progress logging, the dataset cards, and this
# module itself.
NOT_OUTPUT_SHAPING = frozenset({"transforms.progress", "transforms.publish.versioning",
                                "transforms.publish.card"})


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


def _module_files(module: str, with_packages: bool) -> list[Path]:
    """The project source files that importing `module` runs: the module and (if asked) the
    `__init__.py` of each package above it."""
    parts = module.split(".")
    files = ([PROJECT_ROOT.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts) + 1)]
             if with_packages else [PROJECT_ROOT.joinpath(*parts, "__init__.py")])
    files.append(PROJECT_ROOT.joinpath(*parts).with_suffix(".py"))
    return [f for f in files if f.is_file()]


def _imported_modules(source: Path, module: str) -> set[str]:
    """Output-shaping modules a source file imports, at the top or inside functions."""
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
    return {name for name in found
            if name.split(".")[0] in FOLLOWED_PACKAGES and name not in NOT_OUTPUT_SHAPING}


def code_files(module: str) -> list[Path]:
    """The source files whose code can change what `module` (a stage module) publishes: the
    module itself, and every `transforms` module it imports, followed transitively."""
    seen: set[Path] = set(_module_files(module, with_packages=False))
    pending = [name for source in seen
               for name in _imported_modules(source, module.removesuffix(".__init__"))]
    visited_modules = {module}
    while pending:
        name = pending.pop()
        if name in visited_modules:
            continue
        visited_modules.add(name)
        for source in _module_files(name, with_packages=True):
            if source in seen:
                continue
            seen.add(source)
            dotted = ".".join(source.relative_to(PROJECT_ROOT).with_suffix("").parts)
            pending.extend(_imported_modules(source, dotted.removesuffix(".__init__")))
    return sorted(seen)


def _code_text(source: Path) -> str:
    """A module's source without comments, docstrings, trailing spaces or blank lines, so editing
    those is no new version. Worked on the text itself (not `ast.unparse`, whose output may change
    between Python releases), with positions from `ast` and `tokenize`."""
    text = source.read_text(encoding="utf-8")
    lines = text.splitlines()
    dropped: set[int] = set()  # 0-based indexes of docstring lines
    for node in ast.walk(ast.parse(text, str(source))):
        body = getattr(node, "body", None)
        if not (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0]
        alone = (not lines[doc.lineno - 1][:doc.col_offset].strip()
                 and not lines[doc.end_lineno - 1][doc.end_col_offset:].strip())
        if alone:  # not a one-line `def f(): "doc"`, whose line is code too
            dropped.update(range(doc.lineno - 1, doc.end_lineno))
    comment_at = {token.start[0] - 1: token.start[1]
                  for token in tokenize.generate_tokens(io.StringIO(text).readline)
                  if token.type == tokenize.COMMENT}
    kept = []
    for index, line in enumerate(lines):
        if index in dropped:
            continue
        line = line[:comment_at.get(index, len(line))].rstrip()
        if line:
            kept.append(line)
    return "\n".join(kept)


def _contract_text(kind: str) -> str:
    contract = contract_for(kind)
    schema = [[f.name, str(f.type), f.nullable] for f in contract.schema]
    return json.dumps({"kind": kind, "schema": schema,
                       "expectations": [[e.type, e.kwargs] for e in contract.expectations],
                       "label_column": contract.label_column}, sort_keys=True)


def code_version(module: str, kinds: tuple[str, ...] = ()) -> str:
    """Package version plus a hash of what shapes a stage's output: the code of `code_files`
    and the contracts (schema, expectations) of the dataset `kinds` it publishes. Editing the
    CLI, the config model, another stage, logging, a comment or a docstring does not make a new
    version; editing a helper the stage imports or one of its contracts does."""
    digest = hashlib.sha256()
    for source in code_files(module):
        digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
        digest.update(_code_text(source).encode())
    for kind in sorted(kinds):
        digest.update(_contract_text(kind).encode())
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
