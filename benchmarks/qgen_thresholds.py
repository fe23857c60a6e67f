"""QGen filter rules on Home Depot, judged without training a classifier per rule: what each
keep rule keeps of the stage's `scored_queries` (per grade) and how often a judge trained on real
target labels agrees with the grade each kept query was asked for.

Rules: `argmax` (the filter before per-grade thresholds: the classifier's most probable grade is
the one asked for) and per-grade thresholds chosen on the classifier's calibration slice by
F-beta for each `--betas` value (`transforms.qgen.filters.calibrated_thresholds`, the stage's
own), each with the copy rules `contained` and `whole`. The calibration slice is rebuilt here
from the source judgements exactly as the stage holds it out (the same seeded hash), and checked
against the per-grade support the stage reported.

Needs `qgen_quality.py` to have run first (its conditioned roots and its saved judge):

    python benchmarks/qgen_thresholds.py --split benchmarks/work/homedepot --seeds 0 1
"""

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from qgen_quality import CLASSIFIER, SCHEME, agreement, decided, grade_probabilities, judged_triples
from transfer import log, mean_sd

from transforms.qgen.classifier import GradeClassifier, calibration_split, threshold_curves
from transforms.qgen.filters import calibrated_thresholds
from transforms.qgen.training import Triple


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, default=Path("benchmarks/work/homedepot"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--judge-steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/qgen_thresholds.json"))
    return parser.parse_args()


def calibration_curves(split: Path, classifier: GradeClassifier, manifest: dict) -> dict:
    """The stage classifier's threshold curves on its own held-out calibration slice."""
    frame = judged_triples(split, "source")
    triples = [Triple(q, d, g) for q, d, g in zip(frame["query"], frame["document"],
                                                 frame["grade"], strict=True)]
    _, held_out = calibration_split(triples, 0.1, seed=0)  # the benchmark's train_seed
    reported = manifest["reports"]["classifier"]["calibration"]["support"]
    support = {g: sum(t.grade == g for t in held_out) for g in SCHEME.names}
    if support != reported:
        raise SystemExit(f"the rebuilt calibration slice {support} is not the stage's {reported}")
    probabilities = classifier.probabilities([t.query for t in held_out],
                                             [t.document for t in held_out],
                                             CLASSIFIER.pair_tokens, batch_size=256)
    return threshold_curves(probabilities, [t.grade for t in held_out], SCHEME.names)


def scored_of_seed(root: Path, seed: int) -> tuple[pl.DataFrame, dict]:
    """The newest published scored_queries version of a rebuild seed (LATEST is the last seed
    qgen_quality.py rebuilt)."""
    versions = [folder for folder in (root / "scored_queries").iterdir()
                if (folder / "manifest.json").exists()
                and json.loads((folder / "manifest.json").read_text())["seeds"]["seed"] == seed]
    folder = max(versions, key=lambda f: (f / "manifest.json").stat().st_mtime)
    return (pl.read_parquet(folder / "data" / "*.parquet"),
            json.loads((folder / "manifest.json").read_text()))


def main() -> None:
    args = parse_args()
    root = args.split / "roots" / "conditioned"
    judge = GradeClassifier.load(str(args.split / f"judge-{args.judge_steps}-seed100"))
    rules: dict[str, dict[str, float] | None] = {"argmax": None}
    report: dict = {"rules": {}, "runs": []}
    for seed in args.seeds:
        scored_all, manifest = scored_of_seed(root, seed)
        log(f"seed {seed}: scored_queries@{manifest['version']}, {len(scored_all):,} queries")
        # The judge reads every scored query once; each rule's kept rows take their verdicts.
        scored_all = scored_all.with_columns(pl.Series("judged", grade_probabilities(
            judge, scored_all["query"].to_list(), scored_all["doc_text"].to_list()).argmax(1)))
        if len(rules) == 1:  # the same trained classifier for every seed (train_seed 0)
            classifier = GradeClassifier.load(
                str(Path(manifest["models"]["classifier_folder"]) / "classifier"))
            curves = calibration_curves(args.split, classifier, manifest)
            for beta in args.betas:
                rules[f"F-beta {beta:g}"] = calibrated_thresholds(curves, beta)
            report["rules"] = rules
            log(f"thresholds: {json.dumps(rules)}")
        for name, thresholds in rules.items():
            for copy_rule in ("contained", "whole"):
                kept = decided(scored_all, thresholds, copy_rule)
                counts = dict(kept["grade"].value_counts().iter_rows())
                run = {"seed": seed, "rule": name, "copy_rule": copy_rule, "kept": counts,
                       "irrelevant_share": counts.get("Irrelevant", 0) / max(len(kept), 1),
                       "faithfulness": agreement(kept["judged"].to_numpy(),
                                                 kept["grade"].to_list())}
                report["runs"].append(run)
                log(f"  {name}, {copy_rule}: {len(kept):,} kept, Irrelevant "
                    f"{run['irrelevant_share']:.1%}, judge agrees "
                    f"{run['faithfulness']['agreement']:.3f} "
                    f"{ {g: round(v, 3) for g, v in run['faithfulness']['per_grade'].items()} }")
        args.out.write_text(json.dumps(report, indent=1))
    print(table(report))


def table(report: dict) -> str:
    lines = [("| rule | copies dropped | kept | Irrelevant share | judge agrees | Irrelevant | "
             "Partial | Exact |"), "|---|---|---|---|---|---|---|---|"]
    for rule in report["rules"]:
        for copy_rule in ("contained", "whole"):
            runs = [r for r in report["runs"] if (r["rule"], r["copy_rule"]) == (rule, copy_rule)]
            per_grade = [mean_sd([r["faithfulness"]["per_grade"].get(g, 0.0) for r in runs])
                         for g in SCHEME.names]
            lines.append(
                f"| {rule} | {copy_rule} | {np.mean([sum(r['kept'].values()) for r in runs]):,.0f}"
                f" | {mean_sd([r['irrelevant_share'] for r in runs])} | "
                f"{mean_sd([r['faithfulness']['agreement'] for r in runs])} | "
                + " | ".join(per_grade) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
