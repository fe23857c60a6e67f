"""Which `classifier_balance` should the qgen stage default to? Trains the stage's faithfulness
classifier (`transforms.qgen.classifier.train_classifier`, the stage defaults: 500 steps of batch
32, lr 5e-5, 10% calibration slice) on the Home Depot source judgements once per balance and
seed, and scores each on its own held-out calibration slice and on the real target-test
judgements: per-grade recall, macro-F1, accuracy.

Needs the split `prepare_homedepot.py` writes. Trained classifiers are kept under --work-dir and
reused by a rerun; results are written to --out after every run. Run from the repository root:

  HF_HUB_OFFLINE=1 python benchmarks/qgen_classifier.py --split benchmarks/work/homedepot \
      --seeds 0 1 [--balances weighted sampled none]
"""

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

from qgen_quality import CLASSIFIER, SCHEME, judged_triples
from transfer import log

from transforms.embed.encoder import DEFAULT_ENCODER
from transforms.qgen.classifier import (
    BALANCES,
    ClassifierTraining,
    GradeClassifier,
    grade_report,
    train_classifier,
)
from transforms.qgen.training import Triple

STEPS = 500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="prepare_homedepot.py's --out")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--balances", nargs="+", choices=BALANCES, default=list(BALANCES))
    parser.add_argument("--work-dir", type=Path,
                        default=Path("benchmarks/work/qgen_classifier"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/qgen_classifier.json"))
    return parser.parse_args()


def triples(split: Path, name: str) -> list[Triple]:
    frame = judged_triples(split, name)
    return [Triple(q, d, g) for q, d, g in zip(frame["query"], frame["document"], frame["grade"],
                                              strict=True)]


def predictions(classifier: GradeClassifier, pairs: list[Triple]) -> list[str]:
    probabilities = classifier.probabilities([t.query for t in pairs],
                                             [t.document for t in pairs], CLASSIFIER.pair_tokens,
                                             batch_size=256)
    return [classifier.grades[i] for i in probabilities.argmax(1)]


def _mean_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {spread:.3f}"


def table(runs: list[dict]) -> str:
    header = ("| balance | seeds | scored on | recall Irrelevant | recall Partial | recall Exact "
              "| macro-F1 | accuracy |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for balance in BALANCES:
        mine = [r for r in runs if r["balance"] == balance]
        for where in ("calibration", "target_test") if mine else ():
            reports = [r[where] for r in mine]
            cells = [_mean_sd([rep["recall"][g] or 0.0 for rep in reports]) for g in SCHEME.names]
            cells += [_mean_sd([rep[k] for rep in reports]) for k in ("macro_f1", "accuracy")]
            lines.append(f"| {balance} | {len(mine)} | {where} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    source, test = triples(args.split, "source"), triples(args.split, "target_test")
    log(f"{len(source):,} source judgements to train on, {len(test):,} target-test judgements")
    runs = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["balance"], r["seed"]) for r in runs}
    for seed in args.seeds:
        for balance in args.balances:  # interleaved: every balance once per seed
            if (balance, seed) in done:
                continue
            folder = args.work_dir / f"{balance}-{seed}"
            training = ClassifierTraining(DEFAULT_ENCODER, tuple(SCHEME.names),
                                          replace(CLASSIFIER, steps=STEPS, seed=seed),
                                          threads=2, balance=balance)
            started = time.perf_counter()
            record = train_classifier(source, training, str(folder))
            trained_s = time.perf_counter() - started
            classifier = GradeClassifier.load(str(folder / "classifier"))
            report = grade_report([t.grade for t in test], predictions(classifier, test),
                                  list(SCHEME.names))
            runs.append({"balance": balance, "seed": seed, "train_s": round(trained_s, 1),
                         "final_loss": record["final_loss"],
                         "calibration": record["calibration"], "target_test": report})
            args.out.write_text(json.dumps(runs, indent=1))
            log(f"{balance} seed {seed}: target-test macro-F1 {report['macro_f1']:.3f}, "
                f"recall {report['recall']}")
    print(table(runs))


if __name__ == "__main__":
    main()
