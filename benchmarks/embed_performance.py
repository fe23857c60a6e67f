"""Embed throughput and vector quality: the embed stage's composite (`EmbedTexts`: content batches
sorted by length -> RunInference with the stage's encoder handler, on the local FnApiRunner) with
each backend, precision and thread count, against a plain transformers loop (texts in arrival
order, batch 64, mean pooling) and `SentenceTransformer.encode`, interleaved round by round in one
process. Every variant is timed from loading the model to holding every vector.

Corpora: the Banking77 test utterances (short) and Home Depot product titles (longer), a seeded
sample of `--texts` each. Quality, against the torch fp32 vectors: mean and minimum cosine,
Banking77 nearest-centroid predictions that change (centroids from a seeded sample of the train
split), and the top 30 CLINC150 classes that label mapping (centroid surrogate) keeps for
Banking77, as the prune stage ranks them.

    python benchmarks/prepare_intent_data.py            # once: benchmarks/work/intent/*.csv
    HF_HUB_OFFLINE=1 python benchmarks/embed_performance.py --texts 3000 --rounds 2
    HF_HUB_OFFLINE=1 python benchmarks/embed_performance.py --texts 3000 --rounds 2 \
        --variants plain stage-torch stage-torch-2p stage-torch-2p-t1 stage-onnx-int8 \
        stage-onnx-int8-2p stage-onnx-int8-2p-t1 --out benchmarks/work/embed_processes.json
    HF_HUB_OFFLINE=1 python benchmarks/embed_performance.py --texts 3000 --rounds 2 \
        --variants plain stage-torch-w5 stage-torch-w5-2p stage-torch-w5-2p-t1 stage-onnx-int8-w5 \
        stage-onnx-int8-w5-2p-t1 --quality-texts 0 --out benchmarks/work/embed_processes_w5.json
    HF_HUB_OFFLINE=1 python benchmarks/embed_performance.py --texts 2000 --rounds 2 --busy 1 \
        --variants plain stage-torch-t1 stage-torch stage-onnx-int8-t1 stage-onnx-int8 \
        --out benchmarks/work/embed_performance_busy.json

`--busy N` keeps N other processes spinning on the CPU while it measures (a shared worker).
"""

import argparse
import csv
import json
import multiprocessing
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import numpy as np
import pandas as pd
import torch
from transfer import log

from pipelines.runner import pipeline_options
from transforms.batching import bucket_count
from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    EncoderSettings,
    encoder_identity,
    resolve_encoder,
)
from transforms.embed.handler import SentenceEncoderModelHandler
from transforms.embed.onnx_model import ensure_exported
from transforms.embed.transform import EmbedTexts
from transforms.prune.label_mapping import VoteTally, rank_classes
from transforms.prune.surrogates import CentroidSurrogate

BATCH, MAX_LENGTH = 64, 128
# name -> (backend, precision, threads (None: the library's default), length-sort window in
# batches: the stage's `length_sort_batches`, default 50; 0: no sorting, worker processes: 2 is
# Beam's multi-processing local runner, like Dataflow's one SDK process per vCPU)
STAGE_VARIANTS = {
    "stage-torch": ("torch", "fp32", None, 50, 1), "stage-torch-t1": ("torch", "fp32", 1, 50, 1),
    "stage-torch-w5": ("torch", "fp32", None, 5, 1),
    "stage-torch-w0": ("torch", "fp32", None, 0, 1),
    "stage-onnx-fp32": ("onnx", "fp32", None, 50, 1),
    "stage-onnx-fp32-t1": ("onnx", "fp32", 1, 50, 1),
    "stage-onnx-int8": ("onnx", "int8", None, 50, 1),
    "stage-onnx-int8-t1": ("onnx", "int8", 1, 50, 1),
    "stage-torch-2p": ("torch", "fp32", None, 50, 2),
    "stage-torch-2p-t1": ("torch", "fp32", 1, 50, 2),
    "stage-onnx-int8-2p": ("onnx", "int8", None, 50, 2),
    "stage-onnx-int8-2p-t1": ("onnx", "int8", 1, 50, 2),
    # windows of 5 batches: 10 buckets at 3,000 texts, so two processes can share the work
    "stage-torch-w5-2p": ("torch", "fp32", None, 5, 2),
    "stage-torch-w5-2p-t1": ("torch", "fp32", 1, 5, 2),
    "stage-onnx-int8-w5": ("onnx", "int8", None, 5, 1),
    "stage-onnx-int8-w5-2p-t1": ("onnx", "int8", 1, 5, 2),
}
VARIANTS = ("plain", "sentence-transformers", *STAGE_VARIANTS)
# what a run measures unless told otherwise
DEFAULT_VARIANTS = ["plain", "sentence-transformers", "stage-torch", "stage-torch-t1",
                    "stage-torch-w5", "stage-torch-w0", "stage-onnx-fp32", "stage-onnx-fp32-t1",
                    "stage-onnx-int8", "stage-onnx-int8-t1"]


def _spin() -> None:
    while True:
        pass


def read_csv_texts(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def sample(items: list, n: int, seed: int) -> list:
    return random.Random(seed).sample(items, min(n, len(items)))


def timing_corpora(data: Path, intent: Path, texts: int) -> dict[str, list[str]]:
    """The timed corpora: `texts` Banking77 test utterances and as many distinct Home Depot
    product titles, seeded samples."""
    banking_test, _ = read_csv_texts(intent / "target_test.csv")
    titles = pd.read_csv(data / "homedepot" / "train.csv.zip",
                         encoding="latin-1")["product_title"].drop_duplicates().tolist()
    return {"banking77": sample(banking_test, texts, 0), "homedepot": sample(titles, texts, 1)}


def plain_loop(texts: list[str]) -> np.ndarray:
    """What one writes without the stage: arrival order, fixed batches, mean pooling."""
    from transformers import AutoModel, AutoTokenizer

    location = resolve_encoder(DEFAULT_ENCODER)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModel.from_pretrained(location).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = tokenizer(texts[start:start + BATCH], padding=True, truncation=True,
                              max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def sentence_transformers_encode(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_encoder(DEFAULT_ENCODER), device="cpu")
    model.max_seq_length = MAX_LENGTH
    return model.encode(texts, batch_size=BATCH, normalize_embeddings=True,
                        convert_to_numpy=True, show_progress_bar=False)


def _collect(rows: list[dict], path: str) -> None:
    """The stage's vectors to a file: the runner's functions run on pickled copies."""
    np.savez(path, hashes=np.array([row["text_hash"] for row in rows]),
             vectors=np.stack([np.asarray(row["embedding"], dtype=np.float32) for row in rows]))


def stage(texts: list[str], settings: EncoderSettings, window: int, processes: int) -> np.ndarray:
    """The embed stage's composite on in-memory texts, vectors in the texts' order."""
    from transforms.text_keys import text_hash

    path = tempfile.mktemp(suffix=".npz", prefix="embed-bench-")
    options = pipeline_options(["--direct_num_workers", str(processes)] + (
        ["--direct_running_mode", "multi_processing"] if processes > 1 else []))
    with beam.Pipeline(options=options) as pipeline:
        previous = pipeline | "No previous" >> beam.Create([])
        embedded = (pipeline | beam.Create(texts)
                    | EmbedTexts(SentenceEncoderModelHandler(settings, len(texts)),
                                 encoder_identity(settings.model, settings.backend,
                                                  settings.precision),
                                 previous, BATCH, bucket_count(len(texts), BATCH, window),
                                 by_length=window > 0))
        (embedded["embeddings"] | beam.combiners.ToList() | beam.Map(_collect, path))
    with np.load(path) as saved:
        index = {key: i for i, key in enumerate(saved["hashes"].tolist())}
        vectors = saved["vectors"]
    Path(path).unlink()
    return vectors[[index[text_hash(t)] for t in texts]]


def runner_for(name: str, onnx_files: dict[str, str]) -> Callable[[list[str]], np.ndarray]:
    if name == "plain":
        return plain_loop
    if name == "sentence-transformers":
        return sentence_transformers_encode
    backend, precision, threads, window, processes = STAGE_VARIANTS[name]
    settings = EncoderSettings(DEFAULT_ENCODER, MAX_LENGTH, "cpu", backend, precision, threads,
                               onnx_files.get(precision) if backend == "onnx" else None)
    return lambda texts: stage(texts, settings, window, processes)


def nearest_centroid(train: np.ndarray, labels: list[str], test: np.ndarray) -> np.ndarray:
    classes = sorted(set(labels))
    index = np.array([classes.index(label) for label in labels])
    centroids = np.stack([train[index == i].mean(0) for i in range(len(classes))])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return (test @ centroids.T).argmax(1)


def kept_classes(source: np.ndarray, source_labels: list[str], target: np.ndarray,
                 keep: int) -> set[str]:
    """Label mapping as the prune stage does it with the centroid surrogate."""
    means = {c: source[[i for i, label in enumerate(source_labels) if label == c]].mean(0)
             for c in sorted(set(source_labels))}
    surrogate = CentroidSurrogate.from_means(means)
    tally = VoteTally(surrogate.classes)
    for vector in target:
        tally.add(surrogate.probabilities(vector[None])[0], None)
    return {r.source_class for r in rank_classes(tally, keep) if r.kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--intent", type=Path, default=Path("benchmarks/work/intent"))
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=VARIANTS)
    parser.add_argument("--quality-texts", type=int, default=4000,
                        help="texts per quality set; 0: measure speed only")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/embed_performance.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    corpora = timing_corpora(args.data, args.intent, args.texts)
    root = tempfile.mkdtemp(prefix="embed-bench-")
    onnx_files = {}
    for precision in ("fp32", "int8"):
        start = time.perf_counter()
        onnx_files[precision] = ensure_exported(
            root, resolve_encoder(DEFAULT_ENCODER),
            encoder_identity(DEFAULT_ENCODER, "onnx", precision), precision)
        log(f"export {precision}: {time.perf_counter() - start:.1f} s")
    default_threads = torch.get_num_threads()
    results = {"args": {k: str(v) for k, v in vars(args).items()},
               "cpu_threads_default": default_threads, "timings": [], "quality": {}}

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for spinner in spinners:
        spinner.start()
    vectors: dict[tuple[str, str], np.ndarray] = {}
    try:
        for round_ in range(args.rounds):
            order = args.variants if round_ % 2 == 0 else list(reversed(args.variants))
            for name in order:
                for corpus, texts in corpora.items():
                    torch.set_num_threads(default_threads)  # a t1 variant set it to 1
                    start = time.perf_counter()
                    result = runner_for(name, onnx_files)(texts)
                    seconds = time.perf_counter() - start
                    vectors.setdefault((name, corpus), result)
                    results["timings"].append({"round": round_, "variant": name,
                                               "corpus": corpus, "texts": len(texts),
                                               "seconds": round(seconds, 3)})
                    log(f"round {round_} {name:22s} {corpus:9s} {seconds:6.1f} s "
                        f"({len(texts) / seconds:.0f} texts/s)")
                    save()
    finally:
        for spinner in spinners:
            spinner.terminate()
    torch.set_num_threads(default_threads)

    summary = {}
    for name in args.variants:
        for corpus in corpora:
            times = [t["seconds"] for t in results["timings"]
                     if t["variant"] == name and t["corpus"] == corpus]
            summary[f"{name}/{corpus}"] = {"median_s": float(np.median(times)),
                                          "runs_s": times}
    if "plain" in args.variants:
        for key, value in summary.items():
            corpus = key.split("/")[1]
            value["x_plain"] = round(summary[f"plain/{corpus}"]["median_s"] / value["median_s"], 2)
            if "sentence-transformers" in args.variants:
                value["x_sentence_transformers"] = round(
                    summary[f"sentence-transformers/{corpus}"]["median_s"] / value["median_s"], 2)
            reference = vectors[("plain", corpus)]
            cosine = (vectors[(key.split("/")[0], corpus)] * reference).sum(1)
            value["cosine_vs_plain_mean"] = float(cosine.mean())
            value["cosine_vs_plain_min"] = float(cosine.min())
    results["summary"] = summary
    save()

    if not args.quality_texts:
        log(json.dumps(summary, indent=1))
        return
    # Quality of each precision against torch fp32, on the prune benchmark's intent data.
    train_texts, train_labels = read_csv_texts(args.intent / "target_train.csv")
    picked = sample(list(range(len(train_texts))), args.quality_texts, 2)
    train_texts = [train_texts[i] for i in picked]
    train_labels = [train_labels[i] for i in picked]
    test_texts, test_labels = read_csv_texts(args.intent / "target_test.csv")
    clinc_texts, clinc_labels = read_csv_texts(args.intent / "source.csv")
    picked = sample(list(range(len(clinc_texts))), args.quality_texts, 3)
    clinc_texts = [clinc_texts[i] for i in picked]
    clinc_labels = [clinc_labels[i] for i in picked]
    encoded = {}
    for name in ("stage-torch", "stage-onnx-fp32", "stage-onnx-int8"):
        encode = runner_for(name, onnx_files)
        encoded[name] = [encode(train_texts), encode(test_texts), encode(clinc_texts)]
        log(f"quality vectors: {name}")
    reference = encoded["stage-torch"]
    reference_predictions = nearest_centroid(reference[0], train_labels, reference[1])
    reference_kept = kept_classes(reference[2], clinc_labels, reference[0], 30)
    for name, (train, test, clinc) in encoded.items():
        cosine = np.concatenate([(a * b).sum(1) for a, b in zip((train, test, clinc), reference,
                                                               strict=True)])
        predictions = nearest_centroid(train, train_labels, test)
        kept = kept_classes(clinc, clinc_labels, train, 30)
        results["quality"][name] = {
            "mean_cosine": float(cosine.mean()), "min_cosine": float(cosine.min()),
            "nearest_centroid_changed": float((predictions != reference_predictions).mean()),
            "nearest_centroid_accuracy": float(
                (np.array(sorted(set(train_labels)))[predictions] == np.array(test_labels)).mean()),
            "kept_top30_same": len(kept & reference_kept)}
        log(f"{name}: {results['quality'][name]}")
    save()
    log(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
