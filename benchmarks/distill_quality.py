"""Distillation quality: does pre-training a student on a KRR-ST distilled set of m examples
transfer better than pre-training on m real texts picked at random or by k-means?

Data format: `--source` (labels ignored), `--target-train` and `--target-test` are UTF-8 CSVs with
the header `text,label` (or JSONL with those keys); `prepare_intent_data.py` writes CLINC150 ->
Banking77 in that format.

Protocol, per seed:
  1. Every source text gets its teacher vector (the default sentence encoder, cached as .npy in
     the work dir) and its token ids over the teacher's frozen word-embedding table (L = 32).
  2. KRR-ST (the stage's own code, `transforms/distill`) distils the source into m synthetic
     (inputs_embeds, target) pairs with this seed; its wall time is reported.
  3. A fresh student (same initial weights for every method of a seed) is pre-trained by MSE on
     (inputs, teacher-space targets) of each method, `--epochs` epochs for the m-sized sets and
     `--full-epochs` for the whole source:
       krr_st   the distilled (X_s, Y_s)
       coreset  the distinct real texts nearest to Y_s (the `distilled_coreset` dataset)
       random   m random real texts
       kmeans   the real text nearest to each of m spherical k-means centroids
       full     every source text (upper bound)
       none     no pre-training
     plus, with `--published NAME=DIR`, a `distilled` dataset version the pipeline published
     (e.g. prune -> distill chained through one config) under the method name NAME.
  4. `shots` target examples per class are drawn; the student is linearly probed (frozen) and
     fully fine-tuned on them, and both are scored on the whole target test set.
"""

import argparse
import json
import shutil
import statistics
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from transfer import (
    CachedEmbedder,
    Encoded,
    evaluate_transfer,
    log,
    mean_sd,
    read_labelled,
    sample_shots,
)

from transforms.distill.krr_st import KrrStSettings
from transforms.distill.readout import coreset_indices
from transforms.distill.real_texts import RealTexts
from transforms.distill.synthetic_set import (
    CORESET_CANDIDATES,
    DistillSettings,
    RealNeighbours,
    distill,
)
from transforms.embed.encoder import DEFAULT_ENCODER, encoder_identity
from transforms.progress import eta
from transforms.prune.surrogates import spherical_kmeans
from transforms.student.model import (
    StudentSettings,
    TextStudent,
    TokenEmbeddingTable,
    table_identity,
)
from transforms.student.training import pretrain_regression

METHOD_ORDER = ("none", "full", "krr_st", "coreset", "random", "kmeans")


def kmeans_rows(vectors: np.ndarray, m: int, seed: int) -> np.ndarray:
    """The real row nearest to each of m spherical k-means centroids, distinct."""
    centroids = spherical_kmeans(vectors, m, seed=seed)  # (m, t)
    candidates = torch.from_numpy(vectors @ centroids.T).T.topk(CORESET_CANDIDATES, dim=1)[1]
    return np.array([index for _, index in coreset_indices(candidates)])


def published_set(folder: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs_embeds, mask, targets) of a published `distilled` version."""
    table = pa.concat_tables(pq.read_table(p) for p in sorted((folder / "data").glob("*.parquet")))
    embeds = torch.tensor(table.column("inputs_embeds").to_pylist())  # (m, L, d)
    mask = torch.tensor(table.column("attention_mask").to_pylist()).long()  # (m, L)
    targets = torch.tensor(table.column("target").to_pylist())  # (m, t)
    return embeds, mask, targets


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="source texts (text,label)")
    parser.add_argument("--target-train", type=Path, required=True)
    parser.add_argument("--target-test", type=Path, required=True)
    parser.add_argument("--m", type=int, default=300, help="synthetic examples (and subset size)")
    parser.add_argument("--steps", type=int, default=1000, help="KRR-ST outer steps")
    parser.add_argument("--real-batch", type=int, default=512)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--pool-steps", type=int, default=100)
    parser.add_argument("--shots", type=int, default=10, help="target examples per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100,
                        help="pre-training epochs on an m-sized set")
    parser.add_argument("--full-epochs", type=int, default=5,
                        help="pre-training epochs on the whole source")
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--published", nargs="*", default=[], metavar="NAME=DIR",
                        help="published `distilled` version folders to evaluate as methods")
    parser.add_argument("--methods", nargs="+", choices=METHOD_ORDER, default=list(METHOD_ORDER),
                        help="built-in methods to run (KRR-ST is distilled only if krr_st or "
                             "coreset is among them)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/distill_quality.json"))
    parser.add_argument("--work-dir", type=Path, default=Path("benchmarks/work/cache"))
    return parser.parse_args()


def summary_table(runs: list[dict]) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        groups[run["method"]].append(run)
    order = [*METHOD_ORDER, *sorted(set(groups) - set(METHOD_ORDER))]
    lines = ["| method | examples | fine-tune acc | probe acc | distill s | pre-train s |",
             "|---|---|---|---|---|---|"]
    for method in [m for m in order if m in groups]:
        group = groups[method]
        lines.append(
            f"| {method} | {group[0]['examples']:,} | {mean_sd([r['finetune_acc'] for r in group])}"
            f" | {mean_sd([r['probe_acc'] for r in group])}"
            f" | {statistics.mean(r['distill_seconds'] for r in group):.0f}"
            f" | {statistics.mean(r['pretrain_seconds'] for r in group):.1f} |")
    return "\n".join(lines)


def main() -> None:
    from transformers.utils import logging as transformers_logging

    args = parse_args()
    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        force=True)  # importing Beam has already configured the root logger
    start = time.perf_counter()
    source, train, test = (read_labelled(p) for p in (args.source, args.target_train,
                                                      args.target_test))
    target_classes = sorted(set(train.labels))
    vectors = CachedEmbedder(args.work_dir / "embeddings", DEFAULT_ENCODER).vectors(source)
    table = TokenEmbeddingTable.load(DEFAULT_ENCODER, StudentSettings().max_len)
    student_config = StudentSettings(d_in=table.dim)
    ids, mask = table.tokenize(source.texts)
    real = RealTexts(ids.to(torch.int32), mask.sum(1), torch.from_numpy(vectors),
                     pa.table({"id": [f"{i:06d}" for i in range(len(source.texts))],
                               "text": source.texts, "label": source.labels}))
    test_encoded = Encoded.of(table, test.texts, test.labels, target_classes)
    published = {name: published_set(Path(folder))
                 for name, folder in (item.split("=", 1) for item in args.published)}
    config = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "encoder": encoder_identity(DEFAULT_ENCODER), "table": table_identity(table),
              "student": asdict(student_config)}
    runs = []
    for seed in args.seeds:
        settings = DistillSettings(
            krr=KrrStSettings(m=args.m, pool_size=args.pool_size, pool_steps=args.pool_steps,
                            real_batch=args.real_batch, steps=args.steps, seed=seed),
            student=student_config, device="cpu",
            checkpoint_folder=str(args.work_dir / f"distill-checkpoints-{seed}"),
            checkpoint_every=args.steps)
        sets = {"none": None}
        subsets: dict[str, np.ndarray] = {}  # real rows with teacher targets
        distill_seconds = 0.0
        if {"krr_st", "coreset"} & set(args.methods):
            shutil.rmtree(settings.checkpoint_folder, ignore_errors=True)  # a fresh run, timed
            distilling = time.perf_counter()
            distiller = distill(settings, real, table)
            distill_seconds = time.perf_counter() - distilling
            log(f"seed {seed}: KRR-ST m={args.m}, {args.steps} steps in "
                f"{eta(distill_seconds)}; loss {statistics.mean(distiller.losses[:20]):.5f} "
                f"(first 20) -> {statistics.mean(distiller.losses[-20:]):.5f} (last 20)")
            sets["krr_st"] = (distiller.x_s.detach(), distiller.mask_s, distiller.y_s.detach())
            nearest = RealNeighbours.of(distiller, real)
            subsets["coreset"] = np.array([i for _, i in nearest.coreset()])
        if "full" in args.methods:
            subsets["full"] = np.arange(len(real))
        if "random" in args.methods:
            rng = np.random.default_rng(seed)
            subsets["random"] = np.sort(rng.choice(len(real), size=args.m, replace=False))
        if "kmeans" in args.methods:
            subsets["kmeans"] = kmeans_rows(vectors, args.m, seed)
        for name in METHOD_ORDER:
            if name in subsets:
                sets[name] = real.inputs(table, torch.as_tensor(subsets[name]))
        sets = {name: data for name, data in sets.items() if name in args.methods}
        sets.update(published)
        rows = sample_shots(train.labels, args.shots, seed)
        shots = Encoded.of(table, [train.texts[i] for i in rows], [train.labels[i] for i in rows],
                           target_classes)
        for method, data in sets.items():
            torch.manual_seed(seed)
            student = TextStudent(student_config)  # same initial weights for every method
            pretrain_seconds, examples = 0.0, 0
            if data is not None:
                embeds, data_mask, targets = data
                epochs = args.full_epochs if method == "full" else args.epochs
                stats = pretrain_regression(student, embeds, data_mask, targets, epochs=epochs,
                                            seed=seed)
                pretrain_seconds, examples = stats.seconds, len(targets)
            scores = evaluate_transfer(student, table, shots, test_encoded, len(target_classes),
                                       args.finetune_epochs, seed)
            runs.append({"method": method, "seed": seed, "examples": examples,
                         "pretrain_seconds": pretrain_seconds,
                         "distill_seconds": distill_seconds if method == "krr_st" else 0.0,
                         **scores})
            log(f"seed {seed} {method} ({examples:,} examples): fine-tune "
                f"{scores['finetune_acc']:.3f} probe {scores['probe_acc']:.3f} (pre-train "
                f"{pretrain_seconds:.0f}s) | elapsed {eta(time.perf_counter() - start)}")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"config": config, "runs": runs}, indent=1))
    table_text = summary_table(runs)
    log("\n" + table_text)
    args.out.write_text(json.dumps({"config": config, "runs": runs,
                                    "summary_markdown": table_text,
                                    "wall_seconds": time.perf_counter() - start}, indent=1))


if __name__ == "__main__":
    main()
