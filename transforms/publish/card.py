"""The dataset card (README.md) of a published version.

Its front matter lists the Parquet files per split in the Hugging Face `configs` format, so
`datasets.load_dataset(<version dir>)` loads the version with its splits named.
"""

from typing import Any


def render_card(manifest: dict[str, Any]) -> str:
    splits = manifest["splits"]
    # `datasets` refuses a split with no rows, so only non-empty splits are listed.
    loadable = [split for split, info in splits.items() if info["rows"]]
    front = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in loadable:
        front += [f"  - split: {split}", f"    path: data/{split}-*.parquet"]
    front = (front if loadable else ["---"]) + ["---"]
    lines = [
        f"# {manifest['dataset']} @ {manifest['version']}",
        "",
        (f"Published by refinery stage `{manifest['stage']}` at {manifest['created_at']} "
         f"(code {manifest['code_version']}, commit {manifest.get('git_commit') or 'unknown'})."),
        "",
        "| split | rows |",
        "|---|---|",
        *(f"| {split} | {info['rows']:,} |" for split, info in splits.items()),
        "",
        f"Content hash (sorted rows): `{manifest['content_hash']}`",
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
    for name in manifest.get("attachments", []):
        lines += ["", f"![{name}]({name})" if name.endswith(".png") else f"Attached: `{name}`"]
    if manifest.get("parents"):
        lines += ["", "## Lineage", *(f"- {d} @ {v}" for d, v in manifest["parents"].items())]
    if manifest.get("inputs"):
        lines += ["", "## Inputs", *(f"- `{i['path']}` sha256 {i['sha256'][:12]}…"
                                     for i in manifest["inputs"])]
    if manifest.get("drop_counts"):
        lines += ["", "## Rows not published", "| reason | rows |", "|---|---|",
                  *(f"| {r} | {n:,} |" for r, n in sorted(manifest["drop_counts"].items()))]
    validation = manifest["validation"]
    lines += ["", "## Validation",
              f"{validation['evaluated']} expectations, all passed." if validation["success"]
              else f"FAILED: {validation['failed']}"]
    return "\n".join(front + [""] + lines) + "\n"
