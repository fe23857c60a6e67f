"""Distillation performance: time per KRR-ST outer step and peak memory at several m, and what
precomputed teacher targets save against running the teacher on every real batch (as the
reference implementation does), side by side in one run.

Each m runs in a fresh child process so its peak RSS is its own. Real batches are CLINC150 texts
(`--source`, a `text,label` CSV; labels ignored) tokenised over the teacher's table; their teacher
vectors come from the sentence-embedding cache `distill_quality.py` fills (computed here if absent).

Per m, after a warm-up step:
  precomputed   outer steps drawing (inputs, teacher target) from the materialised arrays, as the
                distill stage does
  teacher       the same steps, but the B real texts of each batch are encoded by the teacher
                (all-MiniLM-L6-v2, the stage's encoder settings) inside the step
The pool's one-time staggering (on average P*T/2 full-batch student steps) is timed separately.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transfer import CachedEmbedder, log, read_labelled

from transforms.distill.krr_st import KrrStDistiller, KrrStSettings
from transforms.distill.real_texts import RealTexts
from transforms.embed.encoder import DEFAULT_ENCODER, EncoderSettings, SentenceEncoder
from transforms.student.model import StudentSettings, TokenEmbeddingTable


def measure(args: argparse.Namespace) -> dict:
    """One m, in this process."""
    torch.set_num_threads(args.threads)
    source = read_labelled(args.source)
    vectors = CachedEmbedder(args.work_dir / "embeddings", DEFAULT_ENCODER).vectors(source)
    table = TokenEmbeddingTable.load(DEFAULT_ENCODER, args.length)
    ids, mask = table.tokenize(source.texts)
    import pyarrow as pa

    real = RealTexts(ids.to(torch.int32), mask.sum(1), torch.from_numpy(vectors),
                     pa.table({"id": [str(i) for i in range(len(ids))], "text": source.texts,
                               "label": source.labels}))
    student = StudentSettings(d_in=table.dim, max_len=args.length)
    start_rows = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:args.m]
    embeds, start_mask, targets = real.inputs(table, start_rows)
    # T = 2: every member staggers one step, so construction is cheap; an outer step costs the
    # same whatever T is.
    config = KrrStSettings(m=args.m, pool_size=args.pool_size, pool_steps=2,
                         real_batch=args.real_batch, steps=10 * args.steps)
    distiller = KrrStDistiller(config, student, embeds, start_mask, targets)
    began = time.perf_counter()
    for _ in range(args.pool_size):
        distiller.train_member(distiller.pool[0])
    member_step = (time.perf_counter() - began) / args.pool_size

    precomputed = real.batch_sampler(table, args.real_batch)
    encoder = SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, 128, "cpu"))
    texts = real.rows.column("text").to_pylist()

    def with_teacher(generator: torch.Generator) -> tuple:
        index = torch.randint(len(real), (args.real_batch,), generator=generator)
        batch_embeds, batch_mask, _ = real.inputs(table, index)
        encoded = encoder.encode([texts[i] for i in index.tolist()])
        return batch_embeds, batch_mask, torch.from_numpy(np.stack(encoded))

    timings = {}
    for name, sampler in (("precomputed", precomputed), ("teacher", with_teacher)):
        distiller.outer_step(sampler)  # warm-up
        seconds = []
        for _ in range(args.steps):
            began = time.perf_counter()
            distiller.outer_step(sampler)
            seconds.append(time.perf_counter() - began)
        timings[name] = statistics.median(seconds)
    return {
        "m": args.m, "L": args.length, "B": args.real_batch, "P": args.pool_size,
        "threads": args.threads, "steps_timed": args.steps,
        "step_s_precomputed": timings["precomputed"], "step_s_teacher": timings["teacher"],
        "speedup": timings["teacher"] / timings["precomputed"],
        "pool_stagger_s_at_T100": member_step * args.pool_size * 100 / 2,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--ms", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--m", type=int, help=argparse.SUPPRESS)  # one m, in a child process
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--real-batch", type=int, default=512)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="timed outer steps per variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/work/distill_performance.json"))
    parser.add_argument("--work-dir", type=Path, default=Path("benchmarks/work/cache"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.m is not None:
        print(json.dumps(measure(args)))
        return
    results = []
    for m in args.ms:
        command = [sys.executable, __file__, "--m", str(m),
                   *[item for key, value in vars(args).items()
                     if key not in ("ms", "m", "out") and value is not None
                     for item in (f"--{key.replace('_', '-')}", str(value))]]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        r = results[-1]
        log(f"m={m}: {r['step_s_precomputed']:.3f} s/step precomputed, "
            f"{r['step_s_teacher']:.3f} s/step with the teacher ({r['speedup']:.2f}x), "
            f"peak RSS {r['peak_rss_mib']:,.0f} MiB")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    header = ("| m | s/step (precomputed targets) | s/step (teacher per step) | speed-up "
              "| pool staggering s (T=100) | peak RSS MiB |")
    lines = [header, "|---|---|---|---|---|---|"]
    lines += [f"| {r['m']:,} | {r['step_s_precomputed']:.3f} | {r['step_s_teacher']:.3f} | "
              f"{r['speedup']:.2f}x | {r['pool_stagger_s_at_T100']:.0f} | "
              f"{r['peak_rss_mib']:,.0f} |" for r in results]
    log("\n".join(lines))


if __name__ == "__main__":
    main()
