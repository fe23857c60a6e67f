"""Dataset cards: one per published version, and an index per dataset that lists every version.

Both are Hugging Face dataset cards (huggingface_hub's `DatasetCard`): `configs` front matter
names the Parquet files of each split, and `dataset_info` declares the features (class columns
as `ClassLabel`) and split sizes, so that

    datasets.load_dataset("<root>/<dataset>/<version>")       # that version
    datasets.load_dataset("<root>/<dataset>")                 # LATEST
    datasets.load_dataset("<root>/<dataset>", "<version>")    # any published version

load with their splits named, and nothing beside the data (a `validation.json`, a chart) is
taken for a split. Neither card is part of a version: they describe the rows, never change them.
"""

import datetime as dt
import os
from typing import Any

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from huggingface_hub import DatasetCard, DatasetCardData

from schemas.datasets import contract_for
from transforms.publish import store

INDEX = "README.md"
# Classes listed per class column in a version's card, most common first.
SHOWN_CLASSES = 10


def features_yaml(schema: pa.Schema, classes: dict[str, list[str] | None]) -> list[dict]:
    """The `dataset_info.features` of a dataset: `datasets`' own reading of the Arrow schema,
    with every class column whose names are known declared as a `ClassLabel`."""
    import datasets  # heavy; only the publish step needs it

    features = datasets.Features.from_arrow_schema(schema)
    for column, names in classes.items():
        if names:
            features[column] = datasets.ClassLabel(names=names)
    return datasets.DatasetInfo(features=features)._to_yaml_dict()["features"]


def _class_totals(manifest: dict[str, Any]) -> dict[str, dict[str, int] | None]:
    """Per class column, rows per class name over all splits; None when a split had too many
    names to count."""
    totals: dict[str, dict[str, int] | None] = {}
    for info in manifest["splits"].values():
        for column, counts in (info.get("classes") or {}).items():
            total = totals.setdefault(column, {})
            if counts is None or total is None:
                totals[column] = None
                continue
            for name, count in counts.items():
                total[name] = total.get(name, 0) + count
    return totals


def class_names(manifest: dict[str, Any],
                known: dict[str, tuple[str, ...]]) -> dict[str, list[str] | None]:
    """Per class column, the `known` names in their order, then the other names found in any
    split, sorted; None when a split had too many to count."""
    result: dict[str, list[str] | None] = {}
    for column, totals in _class_totals(manifest).items():
        declared = list(known.get(column, ()))
        result[column] = None if totals is None else declared + sorted(set(totals) - set(declared))
    return result


def _loadable(manifest: dict[str, Any]) -> list[str]:
    # `datasets` refuses a split with no rows, so only non-empty splits are listed.
    return [split for split, info in manifest["splits"].items() if info["rows"]]


def _config_splits(manifest: dict[str, Any]) -> list[str]:
    """The splits a `datasets` config lists: the non-empty ones, or, for a version without any
    rows, all of them, so that loading it says the split is empty instead of guessing splits
    from the other files in the folder."""
    return _loadable(manifest) or list(manifest["splits"])


_SIZE_CATEGORIES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"),
                    (10**6, "100K<n<1M"), (10**7, "1M<n<10M"), (10**8, "10M<n<100M"),
                    (10**9, "100M<n<1B"), (10**10, "1B<n<10B"))


def _size_category(rows: int) -> str:
    """The Hugging Face Hub's size bucket for a row count."""
    return next((name for bound, name in _SIZE_CATEGORIES if rows < bound), "n>10B")


def _dataset_info(manifest: dict[str, Any], config_name: str) -> dict[str, Any] | None:
    if "features" not in manifest:  # published before cards declared features
        return None
    splits = [{"name": split, "num_bytes": manifest["splits"][split]["bytes"],
               "num_examples": manifest["splits"][split]["rows"]}
              for split in _config_splits(manifest)]
    # name first, as `datasets` writes it (the manifest stores keys sorted)
    features = [{"name": f["name"], **{k: v for k, v in f.items() if k != "name"}}
                for f in manifest["features"]]
    return {"config_name": config_name, "features": features, "splits": splits,
            "download_size": sum(s["num_bytes"] for s in splits),
            "dataset_size": sum(s["num_bytes"] for s in splits)}


def _card_data(manifest: dict[str, Any], configs: list[dict], infos: list[dict]) -> DatasetCardData:
    contract = contract_for(manifest["kind"])
    card = manifest.get("card") or {}
    return DatasetCardData(
        pretty_name=manifest["dataset"], license=card.get("license") or "unknown",
        task_categories=list(contract.task_categories) or None,
        size_categories=[_size_category(manifest["rows"])],
        tags=["refinery", f"refinery-{manifest['kind'].replace('_', '-')}"],
        configs=configs or None, dataset_info=infos or None)


def _render(data: DatasetCardData, body: list[str]) -> str:
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n"))


def _description(manifest: dict[str, Any]) -> list[str]:
    contract = contract_for(manifest["kind"])
    given = ((manifest.get("card") or {}).get("description") or "").strip()
    lines = [text for text in (given, contract.description) if text]
    for warning in manifest.get("warnings", []):
        lines += ["", f"> **Warning:** {warning}"]
    return lines


def _shown_path(path: str) -> str:
    """An input as the card shows it: relative paths and URLs as they are; an absolute local
    path by its file name only (the card is meant to be shared; manifest.json has it in full)."""
    if "://" in path or not os.path.isabs(path):
        return f"`{path}`"
    return f"`{os.path.basename(path)}` (full path in manifest.json)"


def _class_lines(manifest: dict[str, Any]) -> list[str]:
    found = _class_totals(manifest)
    lines: list[str] = []
    for column in contract_for(manifest["kind"]).class_columns:
        totals = found.get(column)
        if not totals:  # not counted, too many to count, or no rows
            continue
        rows = sum(totals.values())
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        lines += ["", f"### `{column}` ({len(ranked):,} classes)", "",
                  "| class | rows | share |", "|---|---|---|",
                  *(f"| {name} | {count:,} | {count / rows:.1%} |"
                    for name, count in ranked[:SHOWN_CLASSES])]
        if len(ranked) > SHOWN_CLASSES:
            lines.append(f"| … {len(ranked) - SHOWN_CLASSES:,} more | | |")
    return ["", "## Classes", *lines] if lines else []


def render_card(manifest: dict[str, Any]) -> str:
    """The card of one version, stored as README.md in its folder."""
    splits = manifest["splits"]
    loadable = _loadable(manifest)
    configs = [{"config_name": "default", "data_files": [
        {"split": s, "path": f"data/{s}-*.parquet"} for s in _config_splits(manifest)]}]
    info = _dataset_info(manifest, "default")
    data = _card_data(manifest, configs, [info] if info else [])
    lines = [
        f"# {manifest['dataset']} @ {manifest['version']}",
        "", *_description(manifest), "",
        (f"Published by refinery stage `{manifest['stage']}` at {manifest['created_at']} "
         f"(code {manifest['code_version']}, commit {manifest.get('git_commit') or 'unknown'})."),
        "",
        "| split | rows | Parquet bytes |",
        "|---|---|---|",
        *(f"| {split} | {info['rows']:,} | {info.get('bytes', 0):,} |"
          for split, info in splits.items()),
        "",
        (f"Content hash: `{manifest['content_hash']}` "
         f"({manifest.get('content_hash_kind', 'sha256 of the sorted row digests')}, per split, "
         "then over the splits; equal hashes mean equal rows)"),
        "",
        "## Load",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("<this folder>")  # all non-empty splits',
        "```",
    ]
    if len(loadable) < len(splits):
        empty = ", ".join(s for s in splits if s not in loadable)
        lines += ["", ("Empty splits (not loadable with `datasets`; read their Parquet files with "
                       f"pyarrow or polars): {empty}")]
    lines += _class_lines(manifest)
    for name in manifest.get("attachments", []):
        lines += ["", f"![{name}]({name})" if name.endswith(".png") else f"Attached: `{name}`"]
    if manifest.get("parents"):
        lines += ["", "## Lineage", *(f"- {d} @ {v}" for d, v in manifest["parents"].items())]
    if manifest.get("inputs"):
        lines += ["", "## Inputs", *(f"- {_shown_path(i['path'])} sha256 {i['sha256'][:12]}…"
                                     for i in manifest["inputs"])]
    if manifest.get("drop_counts"):
        lines += ["", "## Rows not published", "| reason | rows |", "|---|---|",
                  *(f"| {r} | {n:,} |" for r, n in sorted(manifest["drop_counts"].items()))]
    validation = manifest["validation"]
    lines += ["", "## Validation",
              f"{validation['evaluated']} expectations, all passed." if validation["success"]
              else f"FAILED: {validation['failed']}"]
    return _render(data, lines)


def render_index(dataset: str, manifests: dict[str, dict[str, Any]], latest: str) -> str:
    """The card of a dataset's folder: every published version a `datasets` config named by its
    version id, LATEST the default one."""
    configs, infos = [], []
    for version, manifest in manifests.items():
        configs.append({"config_name": version, **({"default": True} if version == latest else {}),
                        "data_files": [{"split": s, "path": f"{version}/data/{s}-*.parquet"}
                                       for s in _config_splits(manifest)]})
        if (info := _dataset_info(manifest, version)) is not None:
            infos.append(info)
    current = manifests[latest]
    lines = [f"# {dataset}", "", *_description(current), "",
             f"LATEST is `{latest}`; each version's own card is `<version>/README.md`.", "",
             "| version | published | rows | stage run | |", "|---|---|---|---|---|"]
    for version, manifest in reversed(manifests.items()):
        published = dt.datetime.fromtimestamp(manifest.get("published_at", 0), dt.UTC)
        lines.append(f"| {version} | {published.isoformat(timespec='seconds')} | "
                     f"{manifest['rows']:,} | {manifest.get('run_id', '')} | "
                     f"{'LATEST' if version == latest else ''} |")
    lines += ["", "## Load", "```python", "import datasets",
              'latest = datasets.load_dataset("<this folder>")',
              f'pinned = datasets.load_dataset("<this folder>", "{latest}")  # any version id',
              "```"]
    if not _loadable(current):
        lines += ["", (f"LATEST (`{latest}`) has no rows, which `datasets` cannot load; read its "
                       "Parquet files with pyarrow or polars.")]
    return _render(_card_data(current, configs, infos), lines)


def refresh_index(root: str, dataset: str, run_id: str) -> None:
    """Bring a dataset's index card in line with its published manifests and LATEST, replacing
    the old one in one rename if it differs. LATEST stays the authority: a card left stale (a
    crash after LATEST moved, LATEST moved by hand) is put right by the next call."""
    latest = store.latest_version(root, dataset)
    manifests = store.published_manifests(root, dataset)
    if latest is None or latest not in manifests:
        return
    path = store.join(root, dataset, INDEX)
    text = render_index(dataset, manifests, latest)
    if not FileSystems.exists(path) or store.read_text(path) != text:
        store.replace_text(path, text, run_id)


def point_latest(root: str, dataset: str, version: str, run_id: str) -> None:
    """Make a published version current: LATEST first, then the index card that follows it."""
    store.set_latest(root, dataset, version, run_id)
    refresh_index(root, dataset, run_id)
