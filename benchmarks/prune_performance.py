"""Prune stage performance: the pipeline end to end against a plain transformers loop.

Side by side in one run, each measured in a fresh child process (wall time and peak RSS):

  pipeline  `refinery rebuild --stage embed` then `--stage prune` on an ingested source of N
            records (the embeddings dataset starts empty, so every distinct text is encoded)
  plain     AutoTokenizer + AutoModel, batches of the same size, mean pooling, on the same texts

Source records are texts resampled (seeded) from a generic `text,label` CSV, each made distinct
with a record-number suffix so the pipeline cannot skip work by deduplication. Results are printed
as a markdown table and written as JSON.

    python benchmarks/prune_performance.py --source benchmarks/work/intent/source.csv \
        --target benchmarks/work/intent/target_train.csv --records 20000 200000
"""

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _read_generic(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def _write_source(rows: list[tuple[str, str]], count: int, seed: int, path: Path) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index in range(count):
            text, label = rng.choice(rows)
            writer.writerow([f"{text} (#{index})", label])


def _config(work: Path, source: Path, target: Path, batch_size: int, sort_batches: int) -> Path:
    config = work / "rebuild.yaml"
    config.write_text(f"""output_root: {work / 'out'}
sources:
  - {{name: source, path: {source}, format: csv}}
  - {{name: target, path: {target}, format: csv}}
stages:
  embed: {{batch_size: {batch_size}, length_sort_batches: {sort_batches}}}
  prune: {{source: source, target: target, retain_classes: 30}}
""")
    return config


def _measure(command: list[str], log: Path) -> dict:
    """Wall seconds and peak RSS (MiB) of one child process; its output goes to `log`."""
    started = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                   stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


PLAIN_LOOP = """
import sys, csv, numpy as np, torch
from transformers import AutoModel, AutoTokenizer
from transforms.embed.encoder import DEFAULT_ENCODER, resolve_encoder
paths, batch_size = sys.argv[1:-1], int(sys.argv[-1])
texts = []
for path in paths:
    with open(path, newline="", encoding="utf-8") as handle:
        texts += [row["text"] for row in csv.DictReader(handle)]
location = resolve_encoder(DEFAULT_ENCODER)
tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
model = AutoModel.from_pretrained(location, local_files_only=True).eval()
vectors = []
with torch.inference_mode():
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=128, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        vectors.append(pooled.numpy())
print(np.concatenate(vectors).shape)
"""


def run(records: int, source_rows: list, target: Path, batch_size: int, sort_batches: int,
        work: Path, seed: int, plain: bool) -> dict:
    work = work.resolve()
    shutil.rmtree(work / "out", ignore_errors=True)  # every stage starts from nothing published
    work.mkdir(parents=True, exist_ok=True)
    source = work / "source.csv"
    _write_source(source_rows, records, seed, source)
    config = _config(work, source, target.resolve(), batch_size, sort_batches)
    refinery = [sys.executable, "-m", "pipelines.cli", "rebuild", str(config)]
    result = {"records": records, "batch_size": batch_size, "length_sort_batches": sort_batches,
              "ingest": _measure([*refinery, "--stage", "ingest"], work / "ingest.log")}
    embed = _measure([*refinery, "--stage", "embed"], work / "embed.log")
    prune = _measure([*refinery, "--stage", "prune"], work / "prune.log")
    result["pipeline"] = {"seconds": round(embed["seconds"] + prune["seconds"], 2),
                          "peak_rss_mib": max(embed["peak_rss_mib"], prune["peak_rss_mib"]),
                          "embed": embed, "prune": prune}
    if plain:
        result["plain"] = _measure([sys.executable, "-c", PLAIN_LOOP, str(source),
                                    str(target.resolve()), str(batch_size)], work / "plain.log")
        result["time_ratio"] = round(result["pipeline"]["seconds"] / result["plain"]["seconds"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="text,label CSV to resample")
    parser.add_argument("--target", type=Path, required=True, help="target text,label CSV")
    parser.add_argument("--records", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--plain-up-to", type=int, default=20_000,
                        help="run the plain loop only for record counts up to this")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length-sort-batches", type=int, default=50,
                        help="the embed stage's length_sort_batches (0: no length grouping)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=REPO / "benchmarks/work/prune_perf")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/work/prune_perf.json")
    args = parser.parse_args()
    rows = _read_generic(args.source)
    results = []
    for count in args.records:
        print(f"[prune perf] {count:,} records ...", flush=True)
        results.append(run(count, rows, args.target, args.batch_size, args.length_sort_batches,
                           args.work_dir / str(count), args.seed, count <= args.plain_up_to))
        print(json.dumps(results[-1]), flush=True)
    args.out.write_text(json.dumps(results, indent=2))
    print("\n| records | pipeline s (embed + prune) | plain loop s | ratio | pipeline peak RSS MiB "
          "| plain peak RSS MiB |\n|---|---|---|---|---|---|")
    for r in results:
        plain = r.get("plain", {})
        print(f"| {r['records']:,} | {r['pipeline']['seconds']} ({r['pipeline']['embed']['seconds']}"
              f" + {r['pipeline']['prune']['seconds']}) | {plain.get('seconds', '-')} "
              f"| {r.get('time_ratio', '-')} | {r['pipeline']['peak_rss_mib']} "
              f"| {plain.get('peak_rss_mib', '-')} |")
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(f"\npeak RSS {large['records']:,} / {small['records']:,}: "
              f"{large['pipeline']['peak_rss_mib'] / small['pipeline']['peak_rss_mib']:.2f}x")


if __name__ == "__main__":
    main()
