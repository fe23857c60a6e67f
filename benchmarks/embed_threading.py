"""How the torch backend spends its threads: the encoder's chunks of 32 texts, one thread each
(what the embed stage does), against one forward pass per batch on the same number of intra-op
threads (what it did before, and what a plain loop does), on the same length-sorted batches of 64.

Variants are interleaved round by round (the second round in reverse order), each timed from
the first batch to the last vector; the model loads once, outside the timings. It also reports
whether each way gives bit-identical vectors on 1 and on 2 threads on this CPU.

    HF_HUB_OFFLINE=1 python benchmarks/embed_threading.py --texts 3000 --rounds 3
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from embed_performance import BATCH, MAX_LENGTH, timing_corpora

from transforms.embed.encoder import DEFAULT_ENCODER, EncoderSettings, SentenceEncoder


def batches_of(texts: list[str]) -> list[list[str]]:
    """The stage's batching within one bucket: sorted by length, cut into batches of 64."""
    ordered = sorted(texts, key=len)
    return [ordered[start:start + BATCH] for start in range(0, len(ordered), BATCH)]


def chunked(encoder: SentenceEncoder, batches: list[list[str]]) -> np.ndarray:
    return np.stack([vector for batch in batches for vector in encoder.encode(batch)])


def whole_batch(encoder: SentenceEncoder, batches: list[list[str]], threads: int) -> np.ndarray:
    """One forward pass per batch on `threads` intra-op threads (the encoder's own pass over an
    already tokenised batch, without its chunking)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return np.stack([vector for batch in batches
                         for vector in encoder._vectors(encoder._tokenize(batch))])
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--intent", type=Path, default=Path("benchmarks/work/intent"))
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/embed_threading.json"))
    args = parser.parse_args()

    corpora = timing_corpora(args.data, args.intent, args.texts)
    encoders = {threads: SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, MAX_LENGTH, "cpu",
                                                         threads=threads))
                for threads in (1, 2)}
    variants = {
        "chunks of 32, 2 threads (the stage)": lambda b: chunked(encoders[2], b),
        "chunks of 32, 1 thread": lambda b: chunked(encoders[1], b),
        "one pass per batch, 2 intra-op threads (before)": lambda b: whole_batch(encoders[1], b, 2),
        "one pass per batch, 1 thread": lambda b: whole_batch(encoders[1], b, 1),
    }
    timings: dict[str, list[float]] = {f"{v}/{c}": [] for v in variants for c in corpora}
    vectors: dict[str, np.ndarray] = {}
    for round_number in range(args.rounds):
        order = list(variants) if round_number % 2 == 0 else list(reversed(variants))
        for name in order:
            for corpus, texts in corpora.items():
                batches = batches_of(texts)
                start = time.perf_counter()
                vectors[f"{name}/{corpus}"] = variants[name](batches)
                seconds = time.perf_counter() - start
                timings[f"{name}/{corpus}"].append(seconds)
                print(f"round {round_number} {name:50s} {corpus:10s} {seconds:6.1f} s", flush=True)
    names = list(variants)
    report = {"args": {k: str(v) for k, v in vars(args).items()},
              "cpu_threads_default": torch.get_num_threads(), "timings": timings,
              "median_s": {key: float(np.median(runs)) for key, runs in timings.items()},
              "bit_identical_1_vs_2_threads": {
                  corpus: {"chunks": bool(np.array_equal(vectors[f"{names[0]}/{corpus}"],
                                                         vectors[f"{names[1]}/{corpus}"])),
                           "one pass per batch": bool(np.array_equal(
                               vectors[f"{names[2]}/{corpus}"], vectors[f"{names[3]}/{corpus}"]))}
                  for corpus in corpora},
              "max_abs_difference_chunks_vs_one_pass": {
                  corpus: float(np.abs(vectors[f"{names[0]}/{corpus}"]
                                       - vectors[f"{names[2]}/{corpus}"]).max())
                  for corpus in corpora}}
    report["ratio_stage_over_before"] = {
        corpus: report["median_s"][f"{names[2]}/{corpus}"] / report["median_s"][f"{names[0]}/{corpus}"]
        for corpus in corpora}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("median_s", "bit_identical_1_vs_2_threads",
                                             "max_abs_difference_chunks_vs_one_pass",
                                             "ratio_stage_over_before")}, indent=1))


if __name__ == "__main__":
    main()
