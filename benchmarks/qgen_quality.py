"""QGen quality on Home Depot: do grade-conditioned synthetic queries for a new product domain
train a graded relevance classifier as well as real labels?

Input: the split written by `prepare_homedepot.py` (source departments, and target departments
split again by product into train and test). For each mode (`conditioned`, `unconditioned`) and
seed, the qgen stage runs through the CLI (`refinery rebuild`) on the source judgements and
generates queries for `--documents` target-train products; the generator and the pipeline's own
faithfulness classifier are trained once per mode (`train_seed: 0`) and reused by the other seeds,
which sample new queries. The stage publishes `scored_queries` (every query with each grade's
probability) and, through qgen_filter with its defaults, `synthetic_queries`. Then one
cross-encoder per condition and seed (the stage's own `GradeClassifier`, `--eval-steps` for all)
is trained and scored on the real target-test judgements (a condition whose mode was not
generated, e.g. c without `--modes unconditioned`, is skipped):

  a  real target-train labels (upper bound)
  b  real source labels only (cross-domain transfer)
  c  unconditioned QGen: a query is Exact for its own product and Irrelevant for a random other
     target-train product (the generator cannot be asked for Partial)
  d  grade-conditioned QGen, every query labelled with the grade it was asked for
  e  d through the stage's own filter (qgen_filter with its defaults: `synthetic_queries`)
  f  b + e, mixed half and half
  g  d through the filter before per-grade thresholds: kept where the classifier's most
     probable grade is the grade asked for, queries contained in their title dropped
  h  d through the per-grade thresholds, dropping only queries that are the whole title
  i  b + g, mixed half and half
  j  h, keeping a query of a checked grade (Partial, Exact) only when the classifier rates its
     own product in the top `--round-trip-top-k` of it and `--round-trip-documents` other
     target-train products (the stage's `own_document_rank`; round-trip consistency)
  k  b + j, mixed half and half
  l  d through the per-grade `--thresholds` given (e.g. those F0.25 chooses on the calibration
     slice, from `qgen_thresholds.py`: what `stages.qgen.faithfulness_threshold.<grade>` sets),
     dropping only queries that are the whole title
  m  b + l, mixed half and half

g, h, j and l are decided here from the stage's `scored_queries` with the stage's own functions
(`transforms.qgen.filters`), so no model runs for them. Metrics: macro-F1 and accuracy over the
grades, and nDCG@10 per test query (products ranked by the classifier's expected grade; gain =
grade index) over queries whose judged products do not all share a grade, and again over those of
them with at least 3 judged products. Label faithfulness of c, d, e, g, h: a judge (cross-encoder
trained on the real target-train labels, which the pipeline never sees, with the grades balanced
so that it also predicts the rare Irrelevant) predicts each synthetic pair's grade.

    python benchmarks/qgen_quality.py --split benchmarks/work/homedepot --seeds 0 1 2
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import yaml
from transfer import log, mean_sd, paired
from transformers.utils import logging as transformers_logging

from transforms.progress import eta
from transforms.qgen.classifier import GradeClassifier
from transforms.qgen.filters import (
    copied_from_document,
    faithful_to_grade,
    round_trip_consistent,
)
from transforms.qgen.grades import GradeScheme
from transforms.qgen.training import TrainSettings

# Every evaluated classifier and the judge: the stage's defaults for batch, lr and token limits.
CLASSIFIER = TrainSettings(steps=0, batch_size=32, lr=5e-5, seed=0, device="cpu",
                           max_document_tokens=128, max_query_tokens=16)
SCHEME = GradeScheme((("Irrelevant", 1.0), ("Partial", 2.0), ("Exact", 3.0)))
MODES = ("conditioned", "unconditioned")
CONDITIONS = {
    "a": "real target labels",
    "b": "real source labels",
    "c": "unconditioned QGen",
    "d": "conditioned QGen",
    "e": "conditioned QGen + faithfulness filter",
    "f": "source labels + (e)",
    "g": "conditioned QGen + the filter before (most probable grade, contained copies)",
    "h": "conditioned QGen + thresholds, only whole-title copies dropped",
    "i": "source labels + (g)",
    "j": "(h) + round-trip: own product in the top k",
    "k": "source labels + (j)",
    "l": "conditioned QGen + the --thresholds given, only whole-title copies dropped",
    "m": "source labels + (l)",
}
# Conditions whose synthetic pairs the judge checks.
JUDGED = "cdeghjl"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, default=Path("benchmarks/work/homedepot"),
                        help="prepare_homedepot.py output folder; configs and roots go here too")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--documents", type=int, default=1000,
                        help="target-train products to generate queries for")
    parser.add_argument("--queries-per-grade", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=1500, help="generator steps")
    parser.add_argument("--classifier-steps", type=int, default=500,
                        help="steps of the pipeline's faithfulness classifier")
    parser.add_argument("--eval-steps", type=int, default=300,
                        help="steps of every evaluated classifier, the same for all conditions")
    parser.add_argument("--judge-steps", type=int, default=600)
    parser.add_argument("--round-trip-documents", type=int, default=9,
                        help="stages.qgen.round_trip_documents of the rebuild (0: off)")
    parser.add_argument("--round-trip-top-k", type=int, default=1,
                        help="the own product's rank a query of (j) and (k) needs")
    parser.add_argument("--thresholds", type=per_grade, default=None,
                        help="per-grade thresholds of (l) and (m), e.g. "
                        "Irrelevant=0.66,Partial=0.37,Exact=0.67")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS),
                        choices=list(CONDITIONS))
    parser.add_argument("--filter-reports", nargs="*", default=list("deghj"),
                        choices=list("deghjl"), help="filters whose kept queries the judge "
                        "checks per seed (none: e.g. for a second process sharing the work)")
    parser.add_argument("--no-rebuild", action="store_true",
                        help="evaluate the versions already published for each seed (e.g. by "
                        "earlier --generate-only runs) without running the rebuild again")
    parser.add_argument("--generate-only", action="store_true",
                        help="run the pipelines and stop (e.g. to start them early)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/qgen_quality.json"))
    args = parser.parse_args()
    if args.thresholds is None and {"l", "m"} & set(args.conditions + args.filter_reports):
        parser.error("conditions l and m need --thresholds")
    return args


def per_grade(text: str) -> dict[str, float]:
    """`Irrelevant=0.66,Partial=0.37,Exact=0.67` -> a threshold per grade of the scheme."""
    try:
        thresholds = {grade.strip(): float(value) for grade, value in
                      (item.split("=", 1) for item in text.split(","))}
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected GRADE=NUMBER,...: {error}") from None
    if set(thresholds) != set(SCHEME.names):
        raise argparse.ArgumentTypeError(f"give one threshold for each of {SCHEME.names}")
    return thresholds


def write_generation_documents(split: Path, count: int) -> Path:
    """A seeded sample of target-train products: the documents queries are generated for."""
    path = split / "qgen_documents.csv"
    documents = pl.read_csv(split / "target_train_documents.csv", schema_overrides={"id": pl.Utf8})
    text = documents.sample(n=min(count, len(documents)), seed=0).sort("id").write_csv()
    if not path.exists() or path.read_text() != text:  # untouched while a rebuild may read it
        path.write_text(text)
    return path


def write_config(args: argparse.Namespace, mode: str, seed: int) -> Path:
    """The rebuild config of one mode and seed; paths are relative to the split folder."""
    csv_source = {"format": "csv"}
    config = {
        "output_root": f"roots/{mode}",
        "seed": seed,
        "sources": [
            {"name": "source_documents", "path": "source_documents.csv", **csv_source,
             "fields": {"id": "id", "text": "text"}},
            {"name": "source_judgements", "path": "source_judgements.csv", **csv_source,
             "kind": "judgement", "fields": {"query": "query", "doc_id": "doc_id",
                                             "grade": "rating"}},
            {"name": "qgen_documents", "path": "qgen_documents.csv", **csv_source,
             "fields": {"id": "id", "text": "text"}},
        ],
        "stages": {"qgen": {
            "judgements": "source_judgements", "documents": "source_documents",
            "target": "qgen_documents", "grades": dict(SCHEME.values), "mode": mode,
            "train_steps": args.train_steps, "classifier_steps": args.classifier_steps,
            "queries_per_grade": args.queries_per_grade, "train_seed": 0,
            "round_trip_documents": args.round_trip_documents}},
    }
    path = args.split / f"qgen-{mode}-seed{seed}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _published(folder: Path) -> tuple[pl.DataFrame, dict]:
    return (pl.read_parquet(folder / "data" / "*.parquet"),
            json.loads((folder / "manifest.json").read_text()))


def _version_of(root: Path, dataset: str, wanted) -> Path:
    """The newest complete version of `dataset` whose manifest `wanted` accepts: LATEST is not
    enough when two processes rebuild other seeds into the same root at once."""
    found = [folder for folder in (root / dataset).iterdir() if (folder / "manifest.json").exists()
             and wanted(json.loads((folder / "manifest.json").read_text()))]
    if not found:
        raise SystemExit(f"no {dataset} version in {root} matches")
    return max(found, key=lambda folder: (folder / "manifest.json").stat().st_mtime)


def generate(args: argparse.Namespace, mode: str, seed: int) -> dict:
    """Run the rebuild (a no-op when already published; skipped with --no-rebuild); the seed's
    scored queries and the kept ones (`scored`, `kept`) with their manifests
    (`scored_manifest`, `kept_manifest`)."""
    config = write_config(args, mode, seed)
    if not args.no_rebuild:
        log(f"rebuild {config.name}")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipelines.cli", "rebuild", str(config)],
                       check=True, env=os.environ | {"HF_HUB_OFFLINE": "1",
                                                     "GX_ANALYTICS_ENABLED": "false"})
        log(f"rebuild {config.name}: {eta(time.perf_counter() - started)}")
    root = args.split / "roots" / mode
    section = yaml.safe_load(config.read_text())["stages"]["qgen"]
    scored, scored_manifest = _published(_version_of(
        root, "scored_queries", lambda manifest: manifest["seeds"]["seed"] == seed and all(
            manifest["config"]["qgen"].get(key) == value for key, value in section.items()
            if key in ("round_trip_documents", "queries_per_grade", "train_steps"))))
    kept, kept_manifest = _published(_version_of(
        root, "synthetic_queries",
        lambda manifest: manifest["parents"] == {"scored_queries": scored_manifest["version"]}))
    return {"scored": scored, "kept": kept, "scored_manifest": scored_manifest,
            "kept_manifest": kept_manifest}


def decided(scored: pl.DataFrame, thresholds: dict[str, float] | None, copy_rule: str,
            round_trip_top_k: int | None = None) -> pl.DataFrame:
    """The scored queries a filter keeps: not copied under `copy_rule`, round-trip consistent
    within `round_trip_top_k`, and faithful by the per-grade `thresholds` (None: the
    classifier's most probable grade is the one asked for)."""
    keep = []
    for row in scored.iter_rows(named=True):
        if (copied_from_document(row["query"], row["doc_text"], copy_rule)
                or not round_trip_consistent(row.get("own_document_rank"), round_trip_top_k)):
            keep.append(False)
        elif thresholds is None:
            keep.append(row["classifier_grade"] == row["grade"])
        else:
            keep.append(bool(faithful_to_grade(row["grade_probabilities"], row["grade"],
                                               SCHEME.names, thresholds)))
    return scored.filter(pl.Series(keep))


def judged_triples(split: Path, name: str) -> pl.DataFrame:
    """`<name>_judgements.csv` joined with its documents: query, document, grade."""
    schema = {"id": pl.Utf8, "doc_id": pl.Utf8}
    documents = pl.read_csv(split / f"{name}_documents.csv", schema_overrides=schema)
    judgements = pl.read_csv(split / f"{name}_judgements.csv", schema_overrides=schema)
    return (judgements.join(documents, left_on="doc_id", right_on="id")
            .with_columns(pl.col("rating").map_elements(SCHEME.grade_of, return_dtype=pl.Utf8)
                          .alias("grade"))
            .select("query", "doc_id", pl.col("text").alias("document"), "grade"))


def unconditioned_triples(queries: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Plain QGen gives no grade: a query is Exact for its own product and Irrelevant for a
    random other product of the same set."""
    rng = np.random.default_rng(seed)
    own = queries.select("query", "doc_id", pl.col("doc_text").alias("document"),
                         pl.lit("Exact").alias("grade"))
    documents = queries.select("doc_id", "doc_text").unique(maintain_order=True)
    picks = rng.integers(len(documents), size=len(queries))
    clash = documents["doc_id"].gather(picks) == queries["doc_id"]
    picks[clash.to_numpy()] = (picks[clash.to_numpy()] + 1) % len(documents)
    other = pl.DataFrame({"query": queries["query"], "doc_id": documents["doc_id"].gather(picks),
                          "document": documents["doc_text"].gather(picks),
                          "grade": pl.Series(["Irrelevant"] * len(queries))})
    return pl.concat([own, other])


def synthetic_triples(queries: pl.DataFrame) -> pl.DataFrame:
    return queries.select("query", "doc_id", pl.col("doc_text").alias("document"), "grade")


def mixed_half_and_half(real: pl.DataFrame, synthetic: pl.DataFrame) -> pl.DataFrame:
    """Synthetic rows repeated up to the real rows' number, so a batch draws from each alike."""
    repeats = max(1, round(len(real) / max(len(synthetic), 1)))
    return pl.concat([real, *[synthetic] * repeats])


def filtered_queries(condition: str, generation: dict, round_trip_top_k: int,
                     given_thresholds: dict[str, float] | None) -> pl.DataFrame:
    """The conditioned queries of a filtered condition (e, g, h, j, l; f, i, k and m mix e, g,
    j and l)."""
    if condition in "ef":
        return generation["kept"]
    if condition in "lm":
        return decided(generation["scored"], given_thresholds, "whole")
    thresholds = generation["kept_manifest"]["reports"]["filter"]["thresholds"]
    if condition in "gi":
        return decided(generation["scored"], None, "contained")
    if condition in "jk":
        return decided(generation["scored"], thresholds, "whole", round_trip_top_k)
    return decided(generation["scored"], thresholds, "whole")


def training_pairs(condition: str, seed: int, real: dict[str, pl.DataFrame],
                   generated: dict[tuple[str, int], dict], round_trip_top_k: int,
                   given_thresholds: dict[str, float] | None) -> pl.DataFrame:
    if condition in real:
        return real[condition]
    if condition == "c":
        return unconditioned_triples(generated[("unconditioned", seed)]["kept"], seed)
    conditioned = generated[("conditioned", seed)]
    if condition == "d":
        return synthetic_triples(conditioned["scored"])
    synthetic = synthetic_triples(filtered_queries(condition, conditioned, round_trip_top_k,
                                                   given_thresholds))
    return mixed_half_and_half(real["b"], synthetic) if condition in "fikm" else synthetic


def balanced(triples: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Every grade drawn (with replacement) up to the most frequent grade's count, so a judge
    also learns the rare grade (Irrelevant is 6% of the target labels)."""
    most = triples["grade"].value_counts()["count"].max()
    return pl.concat([group if len(group) == most else
                      group.sample(n=most, with_replacement=True, seed=seed)
                      for _, group in triples.group_by("grade", maintain_order=True)])


def train_classifier(triples: pl.DataFrame, steps: int, seed: int) -> GradeClassifier:
    from transforms.embed.encoder import DEFAULT_ENCODER

    classifier = GradeClassifier.base(DEFAULT_ENCODER, SCHEME.names, seed)
    classifier.train(triples["query"].to_list(), triples["document"].to_list(),
                     triples["grade"].to_list(), replace(CLASSIFIER, steps=steps, seed=seed))
    return classifier


def grade_probabilities(classifier: GradeClassifier, queries: list[str],
                        documents: list[str]) -> np.ndarray:
    """(N, grades) probabilities, in batches of 256 pairs."""
    return classifier.probabilities(queries, documents, CLASSIFIER.pair_tokens, batch_size=256)


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    scores = []
    for c in range(classes):
        tp = np.sum((predicted == c) & (truth == c))
        fp, fn = np.sum((predicted == c) & (truth != c)), np.sum((predicted != c) & (truth == c))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def mean_ndcg_at_10(queries: list[str], truth: np.ndarray, expected: np.ndarray,
                    min_products: int = 2) -> tuple[float, int]:
    """Mean nDCG@10 over queries with at least `min_products` judged products that do not all
    share a grade (gain = grade index, products ranked by expected grade index); returns it with
    the number of queries."""
    by_query: dict[str, list[int]] = {}
    for row, query in enumerate(queries):
        by_query.setdefault(query, []).append(row)
    discounts = 1 / np.log2(np.arange(2, 12))
    scores = []
    for rows in by_query.values():
        gains = truth[rows].astype(float)
        if len(set(gains)) < 2 or len(rows) < min_products:
            continue
        ranked = gains[np.argsort(-expected[rows], kind="stable")][:10]
        ideal = np.sort(gains)[::-1][:10]
        scores.append(float(ranked @ discounts[:len(ranked)] / (ideal @ discounts[:len(ideal)])))
    return float(np.mean(scores)), len(scores)


def score(classifier: GradeClassifier, test: pl.DataFrame) -> dict:
    probabilities = grade_probabilities(classifier, test["query"].to_list(),
                                        test["document"].to_list())
    truth = np.array([SCHEME.index(g) for g in test["grade"]])
    predicted = probabilities.argmax(1)
    expected = probabilities @ np.arange(len(SCHEME.names))
    ndcg, ranked_queries = mean_ndcg_at_10(test["query"].to_list(), truth, expected)
    ndcg_3, ranked_3 = mean_ndcg_at_10(test["query"].to_list(), truth, expected, min_products=3)
    return {"macro_f1": macro_f1(truth, predicted, len(SCHEME.names)),
            "accuracy": float(np.mean(predicted == truth)), "ndcg_at_10": ndcg,
            "ndcg_queries": ranked_queries, "ndcg_at_10_3plus": ndcg_3,
            "ndcg_3plus_queries": ranked_3}


def faithfulness(judge: GradeClassifier, triples: pl.DataFrame) -> dict:
    """How often the judge gives a synthetic pair the grade it is labelled with, overall and per
    labelled grade, and the judge's grade distribution."""
    predicted = grade_probabilities(judge, triples["query"].to_list(),
                                    triples["document"].to_list()).argmax(1)
    return agreement(predicted, triples["grade"].to_list())


def agreement(predicted: np.ndarray, grades: list[str]) -> dict:
    """`faithfulness` from the judge's predicted grade indices, so that one judging of a seed's
    scored queries serves every keep rule applied to them."""
    labelled = np.array([SCHEME.index(g) for g in grades])
    per_grade = {name: float(np.mean(predicted[labelled == i] == i))
                 for i, name in enumerate(SCHEME.names) if np.any(labelled == i)}
    return {"agreement": float(np.mean(predicted == labelled)), "per_grade": per_grade,
            "judged_as": {name: float(np.mean(predicted == i))
                          for i, name in enumerate(SCHEME.names)}, "pairs": len(grades)}


def chance_scores(test: pl.DataFrame, seeds: list[int]) -> dict:
    """What needs no model: the most frequent grade for every pair (macro-F1, accuracy) and a
    random order of each query's products (nDCG@10, all and 3+ products, mean over seeds)."""
    truth = np.array([SCHEME.index(g) for g in test["grade"]])
    majority = np.full_like(truth, np.bincount(truth).argmax())
    orders = [np.random.default_rng(seed).random(len(truth)) for seed in seeds]
    queries = test["query"].to_list()
    return {"macro_f1": macro_f1(truth, majority, len(SCHEME.names)),
            "accuracy": float(np.mean(majority == truth)),
            "ndcg_at_10": [mean_ndcg_at_10(queries, truth, order)[0] for order in orders],
            "ndcg_at_10_3plus": [mean_ndcg_at_10(queries, truth, order, 3)[0]
                                 for order in orders]}


def summary_table(runs: list[dict], chance: dict) -> str:
    header = ("| condition | training pairs | macro-F1 | accuracy | nDCG@10 "
              "| nDCG@10, 3+ products | label faithfulness |")
    lines = [header, "|---|---|---|---|---|---|---|",
             (f"| majority grade / random order | – | {chance['macro_f1']:.3f} | "
              f"{chance['accuracy']:.3f} | {mean_sd(chance['ndcg_at_10'])} | "
              f"{mean_sd(chance['ndcg_at_10_3plus'])} | – |")]
    for key, name in CONDITIONS.items():
        mine = [r for r in runs if r["condition"] == key]
        if not mine:
            continue
        faithful = [r["faithfulness"]["agreement"] for r in mine if r.get("faithfulness")]
        lines.append(
            f"| ({key}) {name} | {statistics.mean(r['pairs'] for r in mine):,.0f} | "
            f"{mean_sd([r['macro_f1'] for r in mine])} | {mean_sd([r['accuracy'] for r in mine])}"
            f" | {mean_sd([r['ndcg_at_10'] for r in mine])} | "
            f"{mean_sd([r['ndcg_at_10_3plus'] for r in mine])} | "
            f"{mean_sd(faithful) if faithful else '–'} |")
    return "\n".join(lines)


# (condition, baseline) pairs whose per-seed macro-F1 differences the summary prints.
PAIRED = (("e", "b"), ("f", "b"), ("j", "e"), ("k", "f"), ("k", "b"), ("l", "e"), ("m", "f"),
          ("m", "b"))


def paired_lines(runs: list[dict]) -> str:
    """Per-seed macro-F1 differences of each PAIRED condition against its baseline."""
    by = {(r["condition"], r["seed"]): r["macro_f1"] for r in runs}
    lines = []
    for condition, baseline in PAIRED:
        mine = {seed: f1 for (c, seed), f1 in by.items() if c == condition}
        base = {seed: f1 for (c, seed), f1 in by.items() if c == baseline}
        if set(mine) & set(base):
            each = ", ".join(f"seed {seed} {mine[seed] - base[seed]:+.3f}"
                             for seed in sorted(set(mine) & set(base)))
            lines.append(f"({condition}) − ({baseline}) macro-F1: {paired(mine, base)}; {each}")
    return "\n".join(lines)


def judge_of(args: argparse.Namespace, real_target: pl.DataFrame) -> GradeClassifier:
    """The faithfulness judge, trained once on the real target-train labels (grades balanced)
    and kept in the split folder for later runs."""
    folder = args.split / f"judge-{args.judge_steps}-seed100"
    if (folder / "config.json").exists():
        return GradeClassifier.load(str(folder))
    log(f"judge: a classifier on the real target-train labels, grades balanced, "
        f"{args.judge_steps} steps")
    judge = train_classifier(balanced(real_target, seed=100), args.judge_steps, seed=100)
    judge.save(str(folder))
    return judge


def filter_report(judge: GradeClassifier, triples: pl.DataFrame) -> dict:
    """What a filter kept, per grade, and how often the judge agrees with each grade."""
    counts = dict(triples["grade"].value_counts().iter_rows())
    return {"kept": counts, "irrelevant_share": counts.get("Irrelevant", 0) / max(len(triples), 1),
            "faithfulness": faithfulness(judge, triples)}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        force=True)  # training progress lines; Beam configured the root logger
    transformers_logging.set_verbosity_error()  # no load report or bar per classifier
    transformers_logging.disable_progress_bar()
    write_generation_documents(args.split, args.documents)
    report = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    report["settings"] = {key: str(value) for key, value in vars(args).items()}
    generated = {}
    for seed in args.seeds:
        for mode in args.modes:
            generation = generate(args, mode, seed)
            generated[(mode, seed)] = generation
            scored, kept = generation["scored_manifest"], generation["kept_manifest"]
            report.setdefault("generation", {})[f"{mode}-seed{seed}"] = {
                "scored": len(generation["scored"]), "kept": len(generation["kept"]),
                "drop_counts": scored["drop_counts"] | kept["drop_counts"],
                "models": scored["models"], "classifier": scored["reports"].get("classifier"),
                "filter": kept["reports"].get("filter")}
    args.out.write_text(json.dumps(report, indent=1))
    if args.generate_only:
        return
    test = judged_triples(args.split, "target_test")
    real = {"a": judged_triples(args.split, "target_train"),
            "b": judged_triples(args.split, "source")}
    log(f"target test: {len(test):,} judgements; target train {len(real['a']):,}; "
        f"source {len(real['b']):,}")
    report["chance"] = chance_scores(test, args.seeds)
    judge = judge_of(args, real["a"])
    report["judge"] = {"steps": args.judge_steps, "balanced": True, "seed": 100} | score(judge, test)
    log(f"judge on target test: macro-F1 {report['judge']['macro_f1']:.3f}")
    for seed in args.seeds:  # what each filter keeps, judged before any classifier trains
        if ("conditioned", seed) not in generated:
            continue
        for condition in args.filter_reports:
            triples = training_pairs(condition, seed, real, generated, args.round_trip_top_k,
                                     args.thresholds)
            report.setdefault("filters", {})[f"{condition}-seed{seed}"] = filter_report(
                judge, triples)
            kept = report["filters"][f"{condition}-seed{seed}"]
            log(f"({condition}) seed {seed}: {len(triples):,} queries, Irrelevant "
                f"{kept['irrelevant_share']:.1%}, judge agrees "
                f"{kept['faithfulness']['agreement']:.3f} {kept['faithfulness']['per_grade']}")
    args.out.write_text(json.dumps(report, indent=1))
    done = {(r["condition"], r["seed"]) for r in report["runs"]}
    needs = {"c": "unconditioned"} | dict.fromkeys("defghijklm", "conditioned")
    todo = [(c, s) for s in args.seeds for c in args.conditions if (c, s) not in done
            and (c not in needs or (needs[c], s) in generated)]
    started = time.perf_counter()
    for number, (condition, seed) in enumerate(todo, start=1):
        triples = training_pairs(condition, seed, real, generated, args.round_trip_top_k,
                                 args.thresholds)
        log(f"[{number}/{len(todo)}] ({condition}) {CONDITIONS[condition]}, seed {seed}: "
            f"{len(triples):,} training pairs")
        classifier = train_classifier(triples, args.eval_steps, seed)
        run = {"condition": condition, "seed": seed, "pairs": len(triples),
               "grades": dict(triples["grade"].value_counts().iter_rows())}
        run |= score(classifier, test)
        if condition in JUDGED:
            if condition == "c":  # its own-product pairs, the ones the generator wrote
                triples = triples.filter(pl.col("grade") == "Exact")
            run["faithfulness"] = faithfulness(judge, triples)
        report["runs"].append(run)
        args.out.write_text(json.dumps(report, indent=1))
        elapsed = time.perf_counter() - started
        log(f"  macro-F1 {run['macro_f1']:.3f}, accuracy {run['accuracy']:.3f}, nDCG@10 "
            f"{run['ndcg_at_10']:.3f} (3+ products {run['ndcg_at_10_3plus']:.3f}); "
            f"ETA {eta(elapsed / number * (len(todo) - number))}")
    print(summary_table(report["runs"], report["chance"]))
    print(paired_lines(report["runs"]))


if __name__ == "__main__":
    main()
