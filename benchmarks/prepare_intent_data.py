"""Write the intent data of ../shared/data in the pruning benchmark's generic format.

The format is a UTF-8 CSV with the header `text,label`, one example per row (standard double-quote
quoting). `prune_quality.py` reads it, or JSONL with the same two keys, so any labelled source and
target can be benchmarked without code changes. This script writes:

  source.csv        CLINC150 `train` split: 150 intents x 100 utterances (no out-of-scope rows)
  target_train.csv  Banking77 train (10,003 rows, 77 intents)
  target_test.csv   Banking77 test (3,080 rows, 40 per intent)

Run from the repository root:
  python benchmarks/prepare_intent_data.py [--data ../shared/data] [--out benchmarks/work/intent]
"""

import argparse
import csv
import json
from pathlib import Path


def write_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    print(f"wrote {len(rows):,} rows, {len({label for _, label in rows})} labels -> {path}")


def banking_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder holding clinc150/ and banking77/")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/intent"))
    args = parser.parse_args()

    clinc = json.loads((args.data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    # `train` holds only the 150 in-scope intents; out-of-scope rows live under their own keys.
    write_rows(args.out / "source.csv", [(text, label) for text, label in clinc["train"]])
    write_rows(args.out / "target_train.csv", banking_rows(args.data / "banking77" / "train.csv"))
    write_rows(args.out / "target_test.csv", banking_rows(args.data / "banking77" / "test.csv"))


if __name__ == "__main__":
    main()
