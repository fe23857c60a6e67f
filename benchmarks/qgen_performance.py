"""QGen generation throughput: the stage's generation path (content batches sorted by length ->
RunInference with the generator handler, per-query seeds, top-k-first sampling) against a plain
Hugging Face `model.generate` loop with the same model, batch size and sampling settings, side by
side in one run; and the pipeline without length sorting.

Inputs are documents from a generic `text,label` CSV (labels ignored), each asked for every grade
of the default scheme, so N documents make 3 N generator inputs. The generator is a model folder
the qgen stage trained (`<root>/.models/qgen/generator/<version>/generator`, e.g. after `make run`) or any
seq2seq folder.

    python benchmarks/qgen_performance.py --generator out/example/.models/qgen/generator/<v>/generator \
        --documents benchmarks/work/intent/target_test.csv --limit 200
"""

import argparse
import csv
import json
import time
from pathlib import Path

import apache_beam as beam
import torch
from transfer import log

from pipelines.runner import pipeline_options
from transforms.batching import RunOnContentBatches, bucket_count
from transforms.qgen.classifier import ClassifierTraining
from transforms.qgen.generator import Generator, GeneratorTraining
from transforms.qgen.grades import GradeScheme, generator_input
from transforms.qgen.round_trip import RoundTripSettings
from transforms.qgen.sampling import row_seed
from transforms.qgen.training import TrainSettings
from transforms.qgen.transform import GeneratorModelHandler, QgenSettings

SCHEME = GradeScheme((("Irrelevant", 1.0), ("Partial", 2.0), ("Exact", 3.0)))


def settings_for(args: argparse.Namespace, threads: int | None = None) -> QgenSettings:
    train = TrainSettings(steps=1, batch_size=1, lr=1e-4, seed=0, device="cpu",
                          max_document_tokens=args.max_document_tokens,
                          max_query_tokens=args.max_query_tokens)
    return QgenSettings(
        scheme=SCHEME, generator_training=GeneratorTraining("", True, train, threads=1),
        classifier_training=ClassifierTraining("", tuple(SCHEME.names), train, threads=1),
        # the folder holding `generator/`, as the stage's generator folder does
        generator_folder=str(Path(args.generator).resolve().parent), classifier_folder="",
        generator_identity="benchmark",
        queries_per_grade=args.queries_per_grade, top_k=50, top_p=0.95, temperature=1.0,
        batch_size=args.batch_size, length_sort_batches=20, max_train_triples=1,
        threads=threads, round_trip=RoundTripSettings(0, 1), target_rows=0, seed=0, judgements="", judgements_version="", target="",
        target_version="")


def run_pipeline(inputs: list[tuple], settings: QgenSettings, sort: bool) -> float:
    started = time.perf_counter()
    buckets = bucket_count(len(inputs), settings.batch_size, settings.length_sort_batches)
    with beam.Pipeline(options=pipeline_options([])) as pipeline:
        _ = (pipeline
             | beam.Create(inputs, reshuffle=False)
             | RunOnContentBatches(GeneratorModelHandler(settings), settings.batch_size, buckets,
                                   by_length=sort)
             | beam.combiners.Count.Globally())
    return time.perf_counter() - started


def run_plain(sources: list[str], settings: QgenSettings, folder: str) -> float:
    """Hugging Face's own `generate` in batches: the obvious alternative (its rows share one
    random generator, so its queries depend on the batch)."""
    started = time.perf_counter()
    generator = Generator.load(folder)
    training = settings.generator_training.settings
    with torch.inference_mode():
        for start in range(0, len(sources), settings.batch_size):
            inputs = generator.tokenizer(sources[start:start + settings.batch_size], padding=True,
                                         truncation=True,
                                         max_length=training.max_document_tokens,
                                         return_tensors="pt")
            generator.model.generate(**inputs, do_sample=True, top_k=settings.top_k,
                                     top_p=settings.top_p, temperature=settings.temperature,
                                     num_return_sequences=settings.queries_per_grade,
                                     max_new_tokens=training.max_query_tokens)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generator", required=True, help="a seq2seq model folder")
    parser.add_argument("--documents", type=Path, required=True, help="text,label CSV")
    parser.add_argument("--limit", type=int, default=200, help="documents to use")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--queries-per-grade", type=int, default=2)
    parser.add_argument("--max-document-tokens", type=int, default=128)
    parser.add_argument("--max-query-tokens", type=int, default=16)
    parser.add_argument("--join-up-to", type=int, default=1,
                        help="document i joins texts i .. i + (i mod K): mixed lengths up to K "
                        "texts, to see what length grouping gains on long inputs")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the variants, alternating their order; medians reported")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/work/qgen_performance.json"))
    args = parser.parse_args()
    if Path(args.generator).name != "generator":
        parser.error("--generator must be a folder named `generator` (as the stage saves it)")
    with args.documents.open(newline="", encoding="utf-8") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    texts = [". ".join(rows[i:i + 1 + i % args.join_up_to])
             for i in range(min(args.limit, len(rows)))]
    inputs = [((f"d{i}", grade, text, copy), (generator_input(text, grade), row_seed(i, copy)))
              for i, text in enumerate(texts) for copy, grade in enumerate(SCHEME.names)]
    settings = settings_for(args)
    queries = len(inputs) * args.queries_per_grade
    sources = [source for _, (source, _) in inputs]
    default_threads = torch.get_num_threads()
    variants = {
        "plain": lambda: run_plain(sources, settings, args.generator),
        "pipeline_unsorted": lambda: run_pipeline(inputs, settings, sort=False),
        "pipeline_sorted": lambda: run_pipeline(inputs, settings, sort=True),
        "pipeline_sorted_1_thread": lambda: run_pipeline(inputs, settings_for(args, 1),
                                                         sort=True),
    }
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name in (list(variants) if round_ % 2 == 0 else list(reversed(variants))):
            torch.set_num_threads(default_threads)  # the 1-thread variant set it to 1
            runs[name].append(variants[name]())
            log(f"round {round_} {name}: {queries / runs[name][-1]:.1f} queries/s")
    median = {name: sorted(times)[len(times) // 2] for name, times in runs.items()}
    result = {"inputs": len(inputs), "queries": queries, "batch_size": args.batch_size,
              "join_up_to": args.join_up_to, "rounds": args.rounds, "runs_s": runs,
              **{f"{name}_s": seconds for name, seconds in median.items()},
              **{f"{name}_vs_plain": median["plain"] / seconds for name, seconds in median.items()
                 if name != "plain"}}
    log(", ".join(f"{name} {queries / seconds:.1f}/s ({median['plain'] / seconds:.2f}x)"
                  for name, seconds in median.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
