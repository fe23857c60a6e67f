"""Split the Home Depot relevance judgements into a source and a target domain for the qgen
benchmark, never sharing a product across sides, and write them in the pipeline's ingest formats.

Products (titles only; the snapshot has no descriptions) are grouped into "departments" by
spherical k-means over their sentence vectors (the bundled all-MiniLM-L6-v2); the departments
named by `--target-departments` (cluster numbers, after sorting clusters by size) form the target
domain, the rest the source. Written to `--out`:

  source_documents.csv, target_documents.csv    id,text        (product_uid, product_title)
  source_judgements.csv, target_judgements.csv  query,doc_id,rating  (mean rating, 1.0-3.0)
  target_{train,test}_{documents,judgements}.csv  the target split again by product
                                                (`--test-fraction` of its products to test): the
                                                benchmark trains on train and scores on test
  departments.json                              per cluster: products, judgements, side, and the
                                                most frequent title words, to see what it holds

Run from the repository root:
  python benchmarks/prepare_homedepot.py [--data ../shared/data] [--out benchmarks/work/homedepot]
"""

import argparse
import csv
import hashlib
import io
import json
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from transfer import log

from transforms.embed.encoder import DEFAULT_ENCODER, EncoderSettings, SentenceEncoder
from transforms.progress import eta
from transforms.prune.surrogates import spherical_kmeans


def read_judgements(path: Path) -> list[dict]:
    with zipfile.ZipFile(path) as archive:
        [member] = archive.namelist()
        with archive.open(member) as raw:
            return list(csv.DictReader(io.TextIOWrapper(raw, encoding="latin-1")))


def title_vectors(titles: list[str], cache: Path) -> np.ndarray:
    key = hashlib.sha256("\n".join(titles).encode()).hexdigest()[:16]
    path = cache / f"homedepot-titles-{key}.npy"
    if path.exists():
        return np.load(path)
    encoder = SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, 64, "cpu"))
    import time

    started, chunks = time.perf_counter(), []
    for start in range(0, len(titles), 256):
        chunks.append(np.stack(encoder.encode(titles[start:start + 256])))
        done = start + len(chunks[-1])
        if len(chunks) % 20 == 0 or done == len(titles):
            rate = done / (time.perf_counter() - started)
            log(f"  embedded {done:,}/{len(titles):,} titles ({rate:.0f}/s, ETA "
                f"{eta((len(titles) - done) / rate)})")
    vectors = np.concatenate(chunks).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/homedepot"))
    parser.add_argument("--departments", type=int, default=10, help="k of k-means")
    parser.add_argument("--target-departments", type=int, nargs="+", default=[2, 5],
                        help="cluster numbers (0 = largest) that form the target domain")
    parser.add_argument("--test-fraction", type=float, default=0.5,
                        help="share of target products whose judgements are the test set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = read_judgements(args.data / "homedepot" / "train.csv.zip")
    titles = {row["product_uid"]: row["product_title"] for row in rows}
    products = sorted(titles)
    log(f"{len(rows):,} judgements over {len(products):,} products")
    vectors = title_vectors([titles[p] for p in products], args.out / "cache")
    centroids = spherical_kmeans(vectors, args.departments, seed=args.seed)
    raw_cluster = (vectors @ centroids.T).argmax(axis=1)
    by_size = [c for c, _ in Counter(raw_cluster.tolist()).most_common()]
    cluster = {p: by_size.index(int(c)) for p, c in zip(products, raw_cluster)}
    side = {p: "target" if cluster[p] in args.target_departments else "source" for p in products}
    target = [p for p in products if side[p] == "target"]
    test = set(np.random.default_rng(args.seed).permutation(target)[
        :round(len(target) * args.test_fraction)].tolist())
    part = {p: "target_test" if p in test else "target_train" for p in target}

    args.out.mkdir(parents=True, exist_ok=True)
    for name, of in (("source", side), ("target", side), ("target_train", part),
                     ("target_test", part)):
        with (args.out / f"{name}_documents.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "text"])
            writer.writerows([p, titles[p]] for p in products if of.get(p) == name)
        with (args.out / f"{name}_judgements.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["query", "doc_id", "rating"])
            writer.writerows([r["search_term"], r["product_uid"], r["relevance"]]
                             for r in rows if of.get(r["product_uid"]) == name)
    summary: dict[int, dict] = defaultdict(lambda: {"products": 0, "judgements": 0})
    words: dict[int, Counter] = defaultdict(Counter)
    for p in products:
        summary[cluster[p]]["products"] += 1
        words[cluster[p]].update(w for w in titles[p].lower().split() if w.isalpha()
                                 and len(w) > 3)
    for r in rows:
        summary[cluster[r["product_uid"]]]["judgements"] += 1
    report = {str(c): {**summary[c], "side": "target" if c in args.target_departments
                       else "source", "top_words": [w for w, _ in words[c].most_common(8)]}
              for c in sorted(summary)}
    (args.out / "departments.json").write_text(json.dumps(report, indent=1))
    for c, info in report.items():
        log(f"department {c} ({info['side']}): {info['products']:,} products, "
            f"{info['judgements']:,} judgements; {' '.join(info['top_words'])}")


if __name__ == "__main__":
    main()
