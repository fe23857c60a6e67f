"""Read-side of the store for people: list datasets, show a version, diff two versions (polars)."""

from dataclasses import dataclass
from typing import Any

import polars as pl
from apache_beam.io.filesystems import FileSystems

from schemas.datasets import contract_for
from transforms.publish import store
from transforms.publish.card import point_latest

NO_LABEL = "(none)"  # how a diff shows rows whose label is null


@dataclass(frozen=True)
class DatasetRef:
    root: str
    dataset: str
    version: str


def parse_ref(text: str) -> DatasetRef:
    """`ROOT/DATASET[@VERSION]`; without a version, the one LATEST names."""
    path, _, version = text.partition("@")
    path = path.rstrip("/")
    root, _, dataset = path.rpartition("/")
    if not root or not dataset:
        raise ValueError(f"{text!r}: expected ROOT/DATASET[@VERSION]")
    if not store.NAME.fullmatch(dataset):
        raise ValueError(f"{text!r}: {dataset!r} is not a dataset name")
    if version and not store.NAME.fullmatch(version):
        raise ValueError(f"{text!r}: {version!r} is not a version id")
    if not version:
        version = store.latest_version(root, dataset) or ""
        if not version:
            raise ValueError(f"{text!r}: no LATEST under {store.join(root, dataset)}")
    if not store.is_published(root, dataset, version):
        raise ValueError(f"{text!r}: version {version} is not published")
    return DatasetRef(root, dataset, version)


def list_datasets(root: str) -> list[dict[str, Any]]:
    """A row per dataset under `root`; a dataset whose manifest cannot be read has a `problem`."""
    if "://" not in root and not FileSystems.exists(root):
        raise FileNotFoundError(f"{root}: no such folder")
    rows = []
    for dataset in store.list_datasets(root):
        try:
            manifests = store.published_manifests(root, dataset)
            latest = store.latest_version(root, dataset)
        except (store.ManifestError, store.LatestError) as error:  # flag it; list the rest
            rows.append({"dataset": dataset, "latest": "(unreadable)", "problem": str(error)})
            continue
        if not manifests:
            continue
        manifest = manifests.get(latest or "", {})
        if latest and latest not in manifests:  # a hand-edited LATEST naming nothing: show it
            latest = f"{latest} (not published!)"
        rows.append({"dataset": dataset, "latest": latest, "versions": len(manifests),
                     "rows": manifest.get("rows"), "stage": manifest.get("stage"),
                     "created_at": manifest.get("created_at")})
    return rows


def list_versions(root: str, dataset: str) -> list[dict[str, Any]]:
    """Every published version of a dataset, oldest first; `current` marks the one LATEST names."""
    latest = store.latest_version(root, dataset)
    return [{"version": version, "rows": manifest.get("rows"),
             "created_at": manifest.get("created_at"),
             "git_commit": _short_commit(manifest.get("git_commit")),
             "current": "*" if version == latest else ""}
            for version, manifest in store.published_manifests(root, dataset).items()]


def _short_commit(commit: str | None) -> str:
    if not commit:
        return ""
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def read_split(ref: DatasetRef, split: str, columns: list[str] | None = None) -> pl.DataFrame:
    manifest = store.read_manifest(ref.root, ref.dataset, ref.version)
    frames = []
    for path in store.data_files(ref.root, ref.dataset, ref.version, manifest, [split]):
        with FileSystems.open(path) as handle:
            frames.append(pl.read_parquet(handle, columns=columns))
    return pl.concat(frames) if frames else pl.DataFrame()


def _label_counts(ref: DatasetRef, manifest: dict[str, Any], column: str) -> pl.DataFrame:
    """Rows per label value over all splits, as signed integers so differences can go negative."""
    frames = [read_split(ref, split, [column]) for split in manifest["splits"]]
    frames = [f for f in frames if f.width]
    frame = pl.concat(frames) if frames else pl.DataFrame({column: []}, schema={column: pl.String})
    return frame.group_by(column).agg(pl.len().cast(pl.Int64).alias("rows"))


def diff(a: DatasetRef, b: DatasetRef) -> dict[str, Any]:
    """Row counts per split, schema changes and label-distribution changes between versions."""
    ma = store.read_manifest(a.root, a.dataset, a.version)
    mb = store.read_manifest(b.root, b.dataset, b.version)
    splits = sorted(set(ma["splits"]) | set(mb["splits"]))
    rows = [{"split": s, "a": ma["splits"].get(s, {}).get("rows", 0),
             "b": mb["splits"].get(s, {}).get("rows", 0)} for s in splits]
    for row in rows:
        row["change"] = row["b"] - row["a"]
    fields_a = {f["name"]: f["type"] for f in ma["schema"]}
    fields_b = {f["name"]: f["type"] for f in mb["schema"]}
    schema = {
        "added": sorted(set(fields_b) - set(fields_a)),
        "removed": sorted(set(fields_a) - set(fields_b)),
        "retyped": sorted(n for n in set(fields_a) & set(fields_b) if fields_a[n] != fields_b[n]),
    }
    label_column = contract_for(mb["kind"]).label_column
    labels: list[dict[str, Any]] = []
    if label_column and label_column in fields_a and label_column in fields_b:
        joined = (_label_counts(a, ma, label_column).rename({"rows": "a"})
                  .join(_label_counts(b, mb, label_column).rename({"rows": "b"}),
                        on=label_column, how="full", coalesce=True, nulls_equal=True)
                  .with_columns(pl.col("a", "b").fill_null(0))
                  .with_columns((pl.col("b") - pl.col("a")).alias("change"))
                  .filter(pl.col("change") != 0)
                  .sort([pl.col("change").abs(), pl.col(label_column)],
                        descending=[True, False], nulls_last=True))
        labels = joined.with_columns(pl.col(label_column).fill_null(NO_LABEL)).to_dicts()
    return {"a": f"{a.dataset}@{a.version}", "b": f"{b.dataset}@{b.version}", "rows": rows,
            "schema": schema, "label_column": label_column, "labels": labels,
            "content_equal": ma["content_hash"] == mb["content_hash"]}


def rollback(root: str, stage: str, to: str | None = None) -> list[dict[str, Any]]:
    """Point LATEST of every dataset of `stage` back to the versions one earlier run made current:
    the run before the current one, or the run whose id (or one of whose versions) is `to`.
    Moves the stage's datasets together, so they never mix versions of two runs."""
    records = store.stage_runs(root, stage)
    if not records:
        raise ValueError(f"{root}: no recorded run of stage {stage!r} (runs are recorded since "
                         "this release; older ones can be re-pointed with datasets versions)")
    current = {dataset: store.latest_version(root, dataset) for dataset in records[-1]["versions"]}
    if to is None:
        earlier = [r for r in records if r["versions"] != current]
        if not earlier:
            raise ValueError(f"stage {stage!r} has no earlier run to roll back to")
        target = earlier[-1]
    else:
        matches = [r for r in records if r["run_id"] == to or to in r["versions"].values()]
        if not matches:
            known = ", ".join(r["run_id"] for r in records)
            raise ValueError(f"no run of stage {stage!r} is {to!r}; its runs: {known}")
        target = matches[-1]
    missing = [f"{d}@{v}" for d, v in target["versions"].items()
               if not store.is_published(root, d, v)]
    if missing:
        raise ValueError(f"run {target['run_id']} of stage {stage!r} made versions current that "
                         f"are no longer published: {', '.join(missing)}")
    rows = []
    for dataset, version in sorted(target["versions"].items()):
        before = store.latest_version(root, dataset)
        if before != version:
            point_latest(root, dataset, version, f"rollback-{target['run_id']}")
        rows.append({"dataset": dataset, "from": before, "to": version,
                     "status": "re-pointed" if before != version else "unchanged"})
    store.record_stage_run(root, stage, f"rollback-{target['run_id']}", target["versions"])
    return rows


def mixed_stages(root: str) -> list[str]:
    """Stages whose datasets' LATEST are not all the versions their last recorded run made
    current (e.g. one dataset's LATEST moved by hand)."""
    problems = []
    for stage in _recorded_stages(root):
        records = store.stage_runs(root, stage)
        try:
            latest = {d: store.latest_version(root, d) for d in records[-1]["versions"]}
        except store.LatestError:
            continue  # the listing flags that dataset itself
        off = [f"{d} is at {latest[d]}, not {v}" for d, v in records[-1]["versions"].items()
               if latest[d] != v]
        if off:
            problems.append(f"stage {stage}: datasets from different runs ({'; '.join(off)}); "
                            f"`refinery rollback {root} {stage}` moves them together")
    return problems


def _recorded_stages(root: str) -> list[str]:
    folder = store.join(root, store.RUNS)
    return sorted({m.path[len(folder) + 1:].split("/")[0]
                   for m in FileSystems.match([store.join(folder, "*", "*.json")])[0].metadata_list})
