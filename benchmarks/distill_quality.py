"""Distillation quality: does pre-training a student on a KRR-ST distilled set of m examples
transfer better than pre-training on m real texts picked at random or by k-means?

Data format: `--source` (labels ignored), `--target-train` and `--target-test` are UTF-8 CSVs with
the header `text,label` (or JSONL with those keys); `prepare_intent_data.py` writes CLINC150 ->
Banking77 in that format.

Protocol, per seed (`transfer.py` has the shared fine-tuning protocol):
  1. Every source text gets its teacher vector (the default sentence encoder, cached as .npy in
     the work dir) and its token ids over the teacher's frozen word-embedding table (L = 32).
     The vectors are normalised per `--norms` (`transforms/distill/targets.py`; statistics of
     the whole source), and every method regresses onto the normalised targets.
  2. KRR-ST (the stage's own code, `transforms/distill`) distils the source into m synthetic
     (inputs_embeds, target) pairs for every m in `--ms`; its wall time is reported.
  3. A fresh student (same initial weights for every method of a seed) is pre-trained by MSE on
     (inputs, targets) of each method, `--epochs` epochs for the m-sized sets and
     `--full-epochs` for the whole source, at `--pretrain-lr`:
       krr_st   the distilled (X_s, Y_s)
       coreset  the distinct real texts nearest to Y_s (the `distilled_coreset` dataset)
       random   m random real texts
       kmeans   the real text nearest to each of m spherical k-means centroids
       full     every source text (upper bound)
       none     no pre-training
     plus, with `--published NAME=DIR`, a `distilled` dataset version the pipeline published,
     pre-trained by the consumer recipe (`transforms.student.distilled.pretrain_on_distilled`).
  4. In each regime of `--regimes`, the student is linearly probed (frozen) and fully fine-tuned
     with rate and epochs chosen on the validation split; the chosen model is scored on the whole
     target test set. The summary has mean ± sd and paired per-seed differences against `none`
     and `random`.

Every finished (method, m, normalisation, seed) is written to `--out` at once, and a rerun with
the same `--out` skips them, so a long grid resumes where it stopped.
"""

import argparse
import hashlib
import json
import shutil
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from transfer import (
    REGIMES,
    CachedEmbedder,
    Encoded,
    TargetTask,
    evaluate_transfer,
    log,
    mean_sd,
    paired,
    read_labelled,
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
from transforms.distill.targets import NORMALISATIONS, TargetNormaliser
from transforms.embed.encoder import DEFAULT_ENCODER, encoder_identity
from transforms.progress import eta
from transforms.prune.surrogates import spherical_kmeans
from transforms.publish.versioning import code_version
from transforms.student.distilled import (
    PRETRAIN_EPOCHS,
    PRETRAIN_LR,
    pretrain_on_distilled,
    read_distilled,
)
from transforms.student.model import (
    StudentSettings,
    TextStudent,
    TokenEmbeddingTable,
    table_identity,
)
from transforms.student.training import pretrain_regression

METHOD_ORDER = ("none", "full", "krr_st", "coreset", "random", "kmeans")
SIZED = ("krr_st", "coreset", "random", "kmeans")  # methods with m examples


def kmeans_rows(vectors: np.ndarray, m: int, seed: int) -> np.ndarray:
    """The real row nearest to each of m spherical k-means centroids, distinct."""
    centroids = spherical_kmeans(vectors, m, seed=seed)  # (m, t)
    candidates = torch.from_numpy(vectors @ centroids.T).T.topk(CORESET_CANDIDATES, dim=1)[1]
    return np.array([index for _, index in coreset_indices(candidates)])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="source texts (text,label)")
    parser.add_argument("--target-train", type=Path, required=True)
    parser.add_argument("--target-test", type=Path, required=True)
    parser.add_argument("--ms", type=int, nargs="+", default=[300],
                        help="sizes of the distilled set and of the real subsets")
    parser.add_argument("--steps", type=int, default=KrrStSettings.steps,
                        help="KRR-ST outer steps")
    parser.add_argument("--real-batch", type=int, default=512)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--pool-steps", type=int, default=100)
    parser.add_argument("--norms", nargs="+", choices=NORMALISATIONS, default=["standardise"],
                        help="teacher-target normalisations to compare (KRR-ST and pre-training)")
    parser.add_argument("--regimes", nargs="+", choices=sorted(REGIMES),
                        default=sorted(REGIMES), help="fine-tuning regimes")
    parser.add_argument("--validation-per-class", type=int, default=10,
                        help="target-train examples per class held out to choose fine-tuning "
                             "rate and epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=PRETRAIN_EPOCHS,
                        help="pre-training epochs on an m-sized set")
    parser.add_argument("--full-epochs", type=int, default=5,
                        help="pre-training epochs on the whole source")
    parser.add_argument("--pretrain-lr", type=float, default=PRETRAIN_LR)
    parser.add_argument("--width", type=int, default=StudentSettings.d_model,
                        help="the student's d_model (ff is twice that)")
    parser.add_argument("--published", nargs="*", default=[], metavar="NAME=DIR",
                        help="published `distilled` version folders to evaluate as methods")
    parser.add_argument("--methods", nargs="+", choices=METHOD_ORDER, default=list(METHOD_ORDER),
                        help="built-in methods to run (KRR-ST is distilled only if krr_st or "
                             "coreset is among them)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/distill_quality.json"))
    parser.add_argument("--work-dir", type=Path, default=Path("benchmarks/work/cache"))
    return parser.parse_args()


def run_key(method: str, m: int, norm: str, seed: int) -> str:
    """What identifies a finished run in the results file (`none` has no m or normalisation)."""
    if method == "none":
        return f"none/seed{seed}"
    return f"{method}/m{m if method in SIZED else 0}/{norm}/seed{seed}"


def summary_table(runs: list[dict], regimes: list[str]) -> str:
    """Per regime and condition: fine-tune and probe accuracy, chosen settings, paired
    differences against `none` and against `random` of the same m and normalisation."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        groups[(run["method"], run["m"], run["norm"])].append(run)

    def by_seed(key: tuple, regime: str, field: str = "finetune_acc") -> dict[int, float]:
        return {r["seed"]: r["scores"][regime][field] for r in groups.get(key, [])}

    order = {name: i for i, name in enumerate(METHOD_ORDER)}
    keys = sorted(groups, key=lambda k: (k[2] or "", k[1], order.get(k[0], len(order)), k[0]))
    lines = []
    for regime in regimes:
        lines += [f"\n**{regime}**\n",
                  ("| method | m | targets | seeds | fine-tune acc | probe acc | − none (paired) "
                   "| − random (paired) | of full's gain | lr / epochs chosen | distill s "
                   "| pre-train s |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key in keys:
            method, m, norm = key
            group = [r for r in groups[key] if regime in r["scores"]]
            if not group:
                continue
            tuned = by_seed(key, regime)
            chosen = Counter(f"{r['scores'][regime]['lr']:g}/{r['scores'][regime]['epochs']}"
                             for r in group)
            versus_random = ("–" if method == "random" or method not in SIZED
                             else paired(tuned, by_seed(("random", m, norm), regime)))
            share = recovered(tuned, by_seed(("none", 0, None), regime),
                              by_seed(("full", 0, norm), regime))
            lines.append(
                f"| {method} | {m or '–'} | {norm or '–'} | {len(group)} "
                f"| {mean_sd(list(tuned.values()))} "
                f"| {mean_sd(list(by_seed(key, regime, 'probe_acc').values()))} "
                f"| {'–' if method == 'none' else paired(tuned, by_seed(('none', 0, None), regime))} "
                f"| {versus_random} | {share} "
                f"| {', '.join(f'{c}×{n}' for c, n in chosen.most_common(3))} "
                f"| {statistics.mean(r['distill_seconds'] for r in group):.0f} "
                f"| {statistics.mean(r['pretrain_seconds'] for r in group):.1f} |")
    return "\n".join(lines)


def recovered(values: dict[int, float], none: dict[int, float], full: dict[int, float]) -> str:
    """The share of the full source's gain over no pre-training a condition keeps, on the means
    of the seeds all three share: (condition − none) / (full − none)."""
    seeds = sorted(set(values) & set(none) & set(full))
    if not seeds:
        return "–"
    gain = statistics.mean(full[s] - none[s] for s in seeds)
    if gain <= 0:
        return "(full ≤ none)"
    return f"{statistics.mean(values[s] - none[s] for s in seeds) / gain:.0%}"


def distil(args: argparse.Namespace, real: RealTexts, table: TokenEmbeddingTable,
           student_config: StudentSettings, m: int, norm: str, seed: int) -> tuple:
    """KRR-ST as the stage runs it: (X_s, mask, Y_s), the coreset rows, and the wall time.

    The result is kept in the work dir as plain arrays (`.npz`, read without pickle), keyed by
    the distillation's settings, the token table and the stage's distillation code, so a
    pre-training variant (`--epochs`, `--pretrain-lr`) reuses it instead of distilling again;
    the wall time reported is the original run's."""
    settings = DistillSettings(
        krr=KrrStSettings(m=m, pool_size=args.pool_size, pool_steps=args.pool_steps,
                          real_batch=args.real_batch, steps=args.steps, seed=seed),
        student=student_config, device="cpu", target_normalisation=norm,
        checkpoint_folder=str(args.work_dir / f"distill-checkpoints-{m}-{norm}-{seed}"),
        checkpoint_every=args.steps)
    identity = json.dumps({"settings": asdict(settings.krr), "student": asdict(student_config),
                           "norm": norm, "table": table_identity(table),
                           "code": code_version(distill.__module__)}, sort_keys=True)
    cached = args.work_dir / (f"distilled-{m}-{norm}-{seed}-"
                              f"{hashlib.sha256(identity.encode()).hexdigest()[:12]}.npz")
    if cached.exists():
        with np.load(cached, allow_pickle=False) as saved:
            log(f"seed {seed}: KRR-ST m={m} ({norm}) from {cached.name} (distilled in "
                f"{eta(float(saved['seconds']))})")
            return ((torch.from_numpy(saved["x_s"]), torch.from_numpy(saved["mask_s"]),
                     torch.from_numpy(saved["y_s"])), saved["coreset"],
                    float(saved["seconds"]))
    shutil.rmtree(settings.checkpoint_folder, ignore_errors=True)  # a fresh run, timed
    distilling = time.perf_counter()
    result = distill(settings, real, table)
    seconds = time.perf_counter() - distilling
    losses = result.distiller.losses
    log(f"seed {seed}: KRR-ST m={m} ({norm}), {args.steps} steps in {eta(seconds)}; loss "
        f"{statistics.mean(losses[:20]):.5f} (first 20) -> {statistics.mean(losses[-20:]):.5f} "
        f"(last 20)")
    distiller = result.distiller
    nearest = RealNeighbours.of(distiller, result.real)
    coreset = np.array([i for _, i in nearest.coreset()])
    x_s, mask_s, y_s = distiller.x_s.detach(), distiller.mask_s, distiller.y_s.detach()
    np.savez(cached, x_s=x_s.numpy(), mask_s=mask_s.numpy(), y_s=y_s.numpy(), coreset=coreset,
             seconds=seconds)
    return ((x_s, mask_s, y_s), coreset, seconds)


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
    student_config = StudentSettings(d_in=table.dim, d_model=args.width, ff=2 * args.width)
    ids, mask = table.tokenize(source.texts)
    real = RealTexts(ids.to(torch.int32), mask.sum(1), torch.from_numpy(vectors),
                     pa.table({"id": [f"{i:06d}" for i in range(len(source.texts))],
                               "text": source.texts, "label": source.labels}))
    test_encoded = Encoded.of(table, test.texts, test.labels, target_classes)
    regimes = [REGIMES[name] for name in args.regimes]
    config = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "encoder": encoder_identity(DEFAULT_ENCODER), "table": table_identity(table),
              "student": asdict(student_config),
              "regime_grids": {r.name: asdict(r) for r in regimes}}
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = [r for r in previous.get("runs", []) if r.get("config_key") == config_key(config)]
    done = {r["key"] for r in runs}
    if runs:
        log(f"resuming: {len(runs)} runs already in {args.out}")

    def record(run: dict) -> None:
        runs.append(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"config": config, "runs": runs}, indent=1))

    def pretrained(method: str, seed: int, data: tuple | None) -> tuple[TextStudent, float]:
        """A fresh student (the same initial weights for every method of a seed), pre-trained
        by MSE on `data` = (inputs_embeds, mask, targets) unless it is None."""
        torch.manual_seed(seed)
        student = TextStudent(student_config)
        if data is None:
            return student, 0.0
        embeds, data_mask, targets = data
        epochs = args.full_epochs if method == "full" else args.epochs
        stats = pretrain_regression(student, embeds, data_mask, targets, epochs=epochs,
                                    lr=args.pretrain_lr, seed=seed)
        return student, stats.seconds

    def evaluate(method: str, m: int, norm: str | None, seed: int, student: TextStudent,
                 examples: int, pretrain_seconds: float, task: TargetTask,
                 distill_seconds: float = 0.0) -> None:
        scores = evaluate_transfer(student, table, task, regimes, seed)
        record({"key": run_key(method, m, norm or "", seed), "config_key": config_key(config),
                "method": method, "m": m if method in SIZED else 0, "norm": norm,
                "seed": seed, "examples": examples, "pretrain_seconds": pretrain_seconds,
                "distill_seconds": distill_seconds, "scores": scores})
        log(f"seed {seed} {method} m={m} {norm} ({examples:,} examples): " + "; ".join(
            f"{name} fine-tune {s['finetune_acc']:.3f} (lr {s['lr']:g}, {s['epochs']} ep, "
            f"val {s['val_acc']:.3f}) probe {s['probe_acc']:.3f}" for name, s in scores.items())
            + f" | elapsed {eta(time.perf_counter() - start)}")

    def evaluate_data(method: str, m: int, norm: str | None, seed: int, data: tuple | None,
                      task: TargetTask, distill_seconds: float = 0.0) -> None:
        student, seconds = pretrained(method, seed, data)
        evaluate(method, m, norm, seed, student, 0 if data is None else len(data[2]), seconds,
                 task, distill_seconds)

    published_sets = {}
    for name, folder in (item.split("=", 1) for item in args.published):
        version = Path(folder)  # <root>/<dataset>/<version>
        published_sets[name] = read_distilled(str(version.parent.parent), version.name,
                                              version.parent.name)
    for seed in args.seeds:
        task = TargetTask.of(table, train, test_encoded, regimes, args.validation_per_class, seed)
        if "none" in args.methods and run_key("none", 0, "", seed) not in done:
            evaluate_data("none", 0, None, seed, None, task)
        for name, published in published_sets.items():
            if run_key(name, 0, "published", seed) not in done:
                pretraining = time.perf_counter()
                student = pretrain_on_distilled(published, epochs=args.epochs,
                                                lr=args.pretrain_lr, seed=seed)
                evaluate(name, len(published.targets), "published", seed, student,
                         len(published.targets), time.perf_counter() - pretraining, task)
        for norm in args.norms:
            normaliser = TargetNormaliser.fit(norm, real.targets)
            normalised = replace(real, targets=normaliser.normalise(real.targets))
            if "full" in args.methods and run_key("full", 0, norm, seed) not in done:
                evaluate_data("full", 0, norm, seed,
                              normalised.inputs(table, torch.arange(len(real))), task)
            for m in args.ms:
                wanted = [x for x in SIZED if x in args.methods
                          and run_key(x, m, norm, seed) not in done]
                if not wanted:
                    continue
                subsets: dict[str, np.ndarray] = {}
                if {"krr_st", "coreset"} & set(wanted):
                    synthetic, subsets["coreset"], seconds = distil(
                        args, real, table, student_config, m, norm, seed)
                    if "krr_st" in wanted:
                        evaluate_data("krr_st", m, norm, seed, synthetic, task, seconds)
                if "random" in wanted:
                    rng = np.random.default_rng(seed)
                    subsets["random"] = np.sort(rng.choice(len(real), size=m, replace=False))
                if "kmeans" in wanted:
                    subsets["kmeans"] = kmeans_rows(vectors, m, seed)
                for method in ("coreset", "random", "kmeans"):
                    if method in wanted:
                        evaluate_data(method, m, norm, seed, normalised.inputs(
                            table, torch.as_tensor(subsets[method])), task)
    table_text = summary_table(runs, args.regimes)
    log("\n" + table_text)
    args.out.write_text(json.dumps({"config": config, "runs": runs,
                                    "summary_markdown": table_text,
                                    "wall_seconds": time.perf_counter() - start}, indent=1))


def config_key(config: dict) -> str:
    """The settings a finished run depends on: a rerun resumes only runs made with these."""
    ignored = {"seeds", "ms", "norms", "methods", "published", "regimes", "out", "threads"}
    kept = {k: v for k, v in config.items() if k not in ignored}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


if __name__ == "__main__":
    main()
