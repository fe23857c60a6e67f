"""`refinery plan`: what a rebuild would do, stage by stage, and why, without doing any of it.

Every stage is planned as the rebuild would plan it (inputs hashed, parents looked up), nothing is
written. A dataset that would be built is compared with its LATEST manifest to say what changed:
its input files, its config section (which keys), its parents' versions or its code. A stage
that reads a dataset an earlier stage would rebuild cannot be planned exactly (its parent's new
version is not known yet); it is reported as rebuilt for that reason.
"""

import time
from dataclasses import dataclass
from typing import Any

from pipelines.config import RebuildConfig
from pipelines.rebuild import check_dataset_names, stages_to_run
from pipelines.stages import STAGES
from pipelines.stages.contract import PlanError
from transforms.publish import store
from transforms.publish.transform import PublishSpec


@dataclass(frozen=True)
class PlannedRow:
    stage: str
    dataset: str
    version: str
    status: str  # "unchanged", "build" or "cannot run"
    why: str


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config sections."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = []
        for key in sorted(set(old) | set(new)):
            keys += _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return keys
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [key for index, (a, b) in enumerate(zip(old, new))
                for key in _changed_keys(a, b, f"{prefix.rstrip('.')}[{index}].")]
    return [] if old == new else [prefix.rstrip(".")]


def _why(spec: PublishSpec) -> str:
    """What differs between a planned version and the dataset's LATEST."""
    latest = store.latest_version(spec.root, spec.dataset)
    if latest is None or not store.is_published(spec.root, spec.dataset, latest):
        return "new dataset"
    manifest = store.read_manifest(spec.root, spec.dataset, latest)
    reasons = []
    old_inputs = {(i.get("source"), i["path"]): i["sha256"] for i in manifest.get("inputs", [])}
    new_inputs = {(i.get("source"), i["path"]): i["sha256"] for i in spec.inputs}
    changed = sorted(key[1] for key, sha in new_inputs.items() if old_inputs.get(key) != sha)
    gone = sorted(key[1] for key in old_inputs if key not in new_inputs)
    if changed:
        reasons.append(f"input changed: {', '.join(changed[:3])}"
                       + (f" (+{len(changed) - 3})" if len(changed) > 3 else ""))
    if gone:
        reasons.append(f"input gone: {', '.join(gone[:3])}")
    keys = _changed_keys(manifest.get("config", {}), spec.config)
    if keys:
        reasons.append(f"config: {', '.join(keys[:4])}" + ("…" if len(keys) > 4 else ""))
    parents = [f"{name} {manifest.get('parents', {}).get(name)} -> {version}"
               for name, version in spec.parents.items()
               if manifest.get("parents", {}).get(name) != version]
    if parents:
        reasons.append(f"parent: {', '.join(parents)}")
    if manifest.get("code_version") != spec.code_version:
        reasons.append(f"code: {manifest.get('code_version')} -> {spec.code_version}")
    return "; ".join(reasons) or f"LATEST is {latest}; this version is not published"


def plan(config: RebuildConfig, only: str | None = None) -> list[PlannedRow]:
    """The rows `refinery plan` prints; raises PlanError for a misspelt dataset name."""
    names = stages_to_run(config, only)
    check_dataset_names(config, names)
    rows: list[PlannedRow] = []
    rebuilt: dict[str, str] = {}  # dataset -> the stage that would rebuild it
    for name in names:
        stage = STAGES[name]
        waiting = sorted({read.dataset for read in stage.reads(config)} & set(rebuilt))
        if waiting:
            rows += [PlannedRow(name, dataset, "(new)", "build",
                                f"reads {', '.join(waiting)}, which "
                                f"{rebuilt[waiting[0]]} would rebuild first")
                     for dataset in stage.publishes(config)]
            rebuilt.update({dataset: name for dataset in stage.publishes(config)})
            continue
        try:
            planned = stage.plan(config, "plan", time.time())
        except PlanError as error:
            rows.append(PlannedRow(name, "-", "-", "cannot run", str(error)))
            continue
        for item in planned.datasets:
            spec = item.spec
            if item.unchanged:
                rows.append(PlannedRow(name, spec.dataset, spec.version, "unchanged",
                                       "inputs, config and code as published"))
            else:
                rows.append(PlannedRow(name, spec.dataset, spec.version, "build", _why(spec)))
                rebuilt[spec.dataset] = name
    return rows
