"""Pruning quality: does keeping only the source classes a target task votes for pre-train a
student as well as the full source does, and better than keeping random classes?

Data format: `--source`, `--target-train` and `--target-test` are each a UTF-8 CSV with the header
`text,label` (or JSONL objects with the keys `text` and `label`); `prepare_intent_data.py` writes
CLINC150 -> Banking77 in that format.

Protocol, per seed:
  1. A validation split is carved from the target-train examples (`transfer.py`), then 10
     examples per target class are drawn from the rest; they vote (and fine-tune in the
     10-shot regime).
  2. Every source and target-train text is embedded once with the default sentence encoder
     (cached as .npy in the work dir, keyed by a hash of the file).
  3. Votes: each drawn target example votes for its arg-max source class under a surrogate:
     lm_centroid (cosine to class means), lm_linear (softmax regression on source embeddings),
     fm (k-means clusters of the source embeddings, k = number of source classes, as classes).
     At each retained ratio r, K = round(r x source classes) top-voted classes (clusters for fm)
     are kept; `random` keeps K random classes.
  4. A fresh student (same initial weights for every method of a seed) is pre-trained on the
     kept source texts with source-class cross-entropy for a fixed number of epochs, then, in
     each regime of `--regimes`, (a) linearly probed and (b) fully fine-tuned with rate and
     epochs chosen on the validation split (`transfer.py`); both are scored on the whole target
     test set. `none` skips pre-training; r = 1.0 is the full source.
"""

import argparse
import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transfer import (
    REGIMES,
    CachedEmbedder,
    Encoded,
    LabelledTexts,
    TargetTask,
    evaluate_transfer,
    log,
    mean_sd,
    read_labelled,
)

from transforms.embed.encoder import DEFAULT_ENCODER, encoder_identity
from transforms.progress import eta
from transforms.prune.label_mapping import VoteTally, rank_classes, retained_count
from transforms.prune.surrogates import (
    CentroidSurrogate,
    LinearSurrogate,
    cluster_names,
    spherical_kmeans,
)
from transforms.student.model import (
    StudentSettings,
    TextStudent,
    TokenEmbeddingTable,
    table_identity,
)
from transforms.student.training import pretrain_classifier

METHOD_ORDER = ("none", "full", "lm_centroid", "lm_linear", "fm", "random")


@dataclass(frozen=True)
class Selection:
    """Which source rows one run pre-trains on."""

    method: str
    ratio: float  # retained share of source classes; 0.0 for no pre-training
    units: list[str]  # kept source classes (k-means clusters for fm)
    rows: np.ndarray  # (n_kept,) source row indices


def tally_votes(surrogate: CentroidSurrogate | LinearSurrogate, vectors: np.ndarray,
                labels: list[str]) -> VoteTally:
    tally = VoteTally(surrogate.classes)
    for probabilities, label in zip(surrogate.probabilities(vectors), labels):
        tally.add(probabilities, label)
    return tally


def select_sources(seed: int, source: LabelledTexts, source_vectors: np.ndarray,
                   voter_vectors: np.ndarray, voter_labels: list[str],
                   ratios: list[float]) -> list[Selection]:
    """Score once per method (the tally), then cut at every ratio: a new K only re-ranks."""
    labels = np.array(source.labels)
    classes = sorted(set(source.labels))
    means = {c: source_vectors[labels == c].mean(axis=0) for c in classes}
    tallies = {"lm_centroid": tally_votes(CentroidSurrogate.from_means(means), voter_vectors,
                                          voter_labels),
               "lm_linear": tally_votes(LinearSurrogate.fit(source_vectors, source.labels,
                                                            seed=seed),
                                        voter_vectors, voter_labels)}
    # Feature mapping ignores the source labels: clusters stand in for classes, and a source
    # text belongs to the cluster of its nearest centroid.
    centroids = spherical_kmeans(source_vectors, len(classes), seed=seed)  # (k, d)
    names = cluster_names(len(classes))
    clusters = np.array(names)[(source_vectors @ centroids.T).argmax(axis=1)]  # (N,)
    tallies["fm"] = tally_votes(CentroidSurrogate.from_means(dict(zip(names, centroids))),
                                voter_vectors, voter_labels)

    selections = []
    for ratio in ratios:
        if ratio == 1.0:
            selections.append(Selection("full", 1.0, classes, np.arange(len(labels))))
            continue
        keep = retained_count(len(classes), None, 1.0 - ratio)  # the pipeline's own rule for K
        for method, tally in tallies.items():
            units = sorted(r.source_class for r in rank_classes(tally, keep) if r.kept)
            membership = clusters if method == "fm" else labels
            selections.append(Selection(method, ratio, units,
                                        np.flatnonzero(np.isin(membership, units))))
        rng = np.random.default_rng([seed, keep])
        units = sorted(str(c) for c in rng.choice(classes, size=keep, replace=False))
        selections.append(Selection("random", ratio, units, np.flatnonzero(np.isin(labels, units))))
    return [Selection("none", 0.0, [], np.array([], dtype=np.int64)), *selections]


def run_one(selection: Selection, seed: int, args: argparse.Namespace, table: TokenEmbeddingTable,
            source: Encoded, task: TargetTask) -> dict:
    torch.manual_seed(seed)
    student = TextStudent(StudentSettings())  # same initial weights for every method of a seed
    pretrain_seconds, pretrain_loss = 0.0, None
    if len(selection.rows):
        rows = torch.as_tensor(selection.rows)
        labels = torch.unique(source.labels[rows], return_inverse=True)[1]  # kept classes 0..C'-1
        stats = pretrain_classifier(student, table.embed(source.ids[rows]), source.mask[rows],
                                    labels, epochs=args.epochs, seed=seed)
        pretrain_seconds, pretrain_loss = stats.seconds, stats.epoch_losses[-1]
    scores = evaluate_transfer(student, table, task, [REGIMES[r] for r in args.regimes], seed)
    return {
        "method": selection.method, "ratio": selection.ratio, "seed": seed,
        "kept_units": len(selection.units), "kept_examples": len(selection.rows),
        "kept_source_classes": len(set(source.labels[torch.as_tensor(selection.rows)].tolist())),
        "pretrain_seconds": pretrain_seconds, "pretrain_final_loss": pretrain_loss,
        "scores": scores, "units": selection.units,
    }


def summary_table(runs: list[dict], regimes: list[str]) -> str:
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for run in runs:
        groups[(run["method"], run["ratio"])].append(run)
    lines = []
    for regime in regimes:
        lines += [f"\n**{regime}**\n",
                  "| method | ratio | K | fine-tune acc | probe acc | pre-train s | kept examples |",
                  "|---|---|---|---|---|---|---|"]
        for method, ratio in sorted(groups, key=lambda g: (METHOD_ORDER.index(g[0]), g[1])):
            group = groups[(method, ratio)]
            lines.append(
                f"| {method} | {ratio:g} | {group[0]['kept_units']} "
                f"| {mean_sd([r['scores'][regime]['finetune_acc'] for r in group])} "
                f"| {mean_sd([r['scores'][regime]['probe_acc'] for r in group])} "
                f"| {statistics.mean(r['pretrain_seconds'] for r in group):.1f} "
                f"| {statistics.mean(r['kept_examples'] for r in group):,.0f} |")
    return "\n".join(lines)


def domain_breakdown(runs: list[dict], domains_path: Path) -> tuple[str, dict]:
    """Kept lm_centroid classes per source domain, one count per seed (e.g. `12/13/12`)."""
    domain_of = {intent: domain for domain, intents in
                 json.loads(domains_path.read_text(encoding="utf-8")).items() for intent in intents}
    counts: dict[float, list[Counter]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r["seed"]):
        if run["method"] == "lm_centroid":
            counts[run["ratio"]].append(
                Counter(domain_of.get(unit, "(no domain)") for unit in run["units"]))
    domains = sorted(set(domain_of.values()).union(*(c for cs in counts.values() for c in cs)))
    lines = ["| ratio | " + " | ".join(domains) + " |", "|---" * (len(domains) + 1) + "|"]
    for ratio in sorted(counts):
        cells = ["/".join(str(seed_counts[d]) for seed_counts in counts[ratio]) for d in domains]
        lines.append(f"| {ratio:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines), {str(ratio): [dict(c) for c in per_seed]
                              for ratio, per_seed in counts.items()}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="labelled source (text,label)")
    parser.add_argument("--target-train", type=Path, required=True,
                        help="target pool the votes and fine-tuning examples are drawn from")
    parser.add_argument("--target-test", type=Path, required=True, help="target evaluation set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.2, 0.4, 0.6, 0.8, 1.0],
                        help="retained shares of source classes; 1.0 is the full source")
    parser.add_argument("--epochs", type=int, default=5,
                        help="pre-training epochs, the same for every ratio (so pruning saves "
                             "compute); 5 keeps the default grid near 40 minutes on 2 CPU cores")
    parser.add_argument("--regimes", nargs="+", choices=sorted(REGIMES), default=["10-shot"],
                        help="fine-tuning regimes (transfer.py); the 10-shot examples vote")
    parser.add_argument("--validation-per-class", type=int, default=10,
                        help="target-train examples per class held out to choose fine-tuning "
                             "rate and epochs")
    parser.add_argument("--domains", type=Path, default=None,
                        help="JSON {domain: [source class, ...]}: print lm_centroid kept classes "
                             "per domain (CLINC150: ../shared/data/clinc150/domains.json)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; the student's matmuls are too small to gain much "
                             "from more, and on a shared machine more threads make timings erratic")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/prune_quality.json"))
    parser.add_argument("--work-dir", type=Path, default=Path("benchmarks/work/cache"))
    args = parser.parse_args()
    if not all(0.0 < r <= 1.0 for r in args.ratios):
        parser.error("--ratios must lie in (0, 1]")
    return args


def main() -> None:
    from transformers.utils import logging as transformers_logging

    args = parse_args()
    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()  # one bar per model load would bury the progress
    start = time.perf_counter()
    source, train, test = (read_labelled(p) for p in (args.source, args.target_train,
                                                      args.target_test))
    target_classes = sorted(set(train.labels))
    if unknown := set(test.labels) - set(target_classes):
        raise SystemExit(f"{args.target_test}: labels not in the target train set: {unknown}")

    embedder = CachedEmbedder(args.work_dir / "embeddings", DEFAULT_ENCODER)
    source_vectors, train_vectors = embedder.vectors(source), embedder.vectors(train)
    table = TokenEmbeddingTable.load(DEFAULT_ENCODER, StudentSettings().max_len)
    source_encoded = Encoded.of(table, source.texts, source.labels, sorted(set(source.labels)))
    test_encoded = Encoded.of(table, test.texts, test.labels, target_classes)

    regimes = [REGIMES[name] for name in args.regimes]
    voters = REGIMES["10-shot"]
    plan = []  # (seed, task, selection): every selection first, so the ETA covers the whole grid
    for seed in args.seeds:
        task = TargetTask.of(table, train, test_encoded, [voters, *regimes],
                             args.validation_per_class, seed)
        rows = task.rows[voters.name]
        shot_labels = [train.labels[i] for i in rows]
        selecting = time.perf_counter()
        plan += [(seed, task, s) for s in select_sources(seed, source, source_vectors,
                                                         train_vectors[rows], shot_labels,
                                                         sorted(set(args.ratios)))]
        log(f"seed {seed}: {len(rows)} target examples voted under each surrogate "
            f"({time.perf_counter() - selecting:.0f}s for the surrogate fit and k-means)")

    # Rough cost model for the ETA: a training example costs 1, a forward-only example 1/3.
    def cost(task: TargetTask, selection: Selection) -> float:
        return args.epochs * len(selection.rows) + sum(
            len(r.lrs) * r.max_epochs * (len(task.rows[r.name]) + len(task.validation.labels) / 3)
            for r in regimes)

    total_cost, done_cost, runs = sum(cost(t, s) for _, t, s in plan), 0.0, []
    train_start = time.perf_counter()
    config = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "encoder": encoder_identity(DEFAULT_ENCODER), "table": table_identity(table),
              "student": asdict(StudentSettings())}
    for number, (seed, task, selection) in enumerate(plan, start=1):
        run = run_one(selection, seed, args, table, source_encoded, task)
        runs.append(run)
        done_cost += cost(task, selection)
        elapsed = time.perf_counter() - train_start
        scores = "; ".join(f"{name} fine-tune {s['finetune_acc']:.3f} probe {s['probe_acc']:.3f}"
                           for name, s in run["scores"].items())
        log(f"[{number}/{len(plan)}] seed {seed} {selection.method} r={selection.ratio:g} "
            f"kept {run['kept_examples']:,}: {scores} "
            f"(pre-train {run['pretrain_seconds']:.0f}s) | elapsed "
            f"{eta(time.perf_counter() - start)}, ETA "
            f"{eta(elapsed / done_cost * (total_cost - done_cost))}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"config": config, "runs": runs}, indent=1))

    table_text = summary_table(runs, args.regimes)
    result = {"config": config, "runs": runs, "summary_markdown": table_text}
    log("\n" + table_text)
    if args.domains is not None:
        domain_text, result["lm_centroid_domains"] = domain_breakdown(runs, args.domains)
        log("\nlm_centroid kept classes per source domain (one count per seed):\n" + domain_text)
    result["wall_seconds"] = time.perf_counter() - start
    args.out.write_text(json.dumps(result, indent=1))
    log(f"\nwall time {eta(result['wall_seconds'])}; results -> {args.out}")


if __name__ == "__main__":
    main()
