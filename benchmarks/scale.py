"""Scale-out plumbing: ingest -> embed -> prune on synthetic corpora of growing size, on the local
runner with two worker processes and on Beam's portable runner with an external worker pool.

A tiny random-weight BERT (one layer, width 32, the bundled MiniLM's tokenizer), created here, is
the encoder, so the pipeline's plumbing, not the model, is measured. Every stage is its own
`refinery rebuild --stage X` process. While it runs, every process of its tree (and of the worker
pool) is polled for its peak resident memory (the kernel's VmHWM), and reported as:

  runner   the CLI process: it plans, runs the local runner (or the in-process job service) and
           buffers the shuffles of both local runners
  worker   each SDK worker process (the largest is reported, with how many there were)

Results go to a JSON file after every measurement; a rerun skips what is there (`--resume`).

    python benchmarks/scale.py --rows 300000 1000000 3000000 --runners multi portable
"""

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "embed", "prune")
SOURCE_CLASSES = 200
TARGET_ROWS = 5_000
TARGET_CLASSES = 20


def _tiny_encoder(folder: Path) -> Path:
    """A seeded random-weight BERT with the bundled encoder's tokenizer."""
    if (folder / "config.json").exists():
        return folder
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from transforms.embed.encoder import DEFAULT_ENCODER, resolve_encoder

    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(DEFAULT_ENCODER))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32,
                                 num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _words() -> list[str]:
    from transformers import AutoTokenizer

    from transforms.embed.encoder import DEFAULT_ENCODER, resolve_encoder

    vocab = AutoTokenizer.from_pretrained(resolve_encoder(DEFAULT_ENCODER)).get_vocab()
    return sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) > 2)[:5_000]


def _write_corpus(path: Path, rows: int, classes: int, prefix: str, seed: int,
                  words: list[str]) -> None:
    """`rows` distinct texts of 6-16 seeded random words, each with one of `classes` labels."""
    if path.exists():
        return
    rng = random.Random(seed)
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for index in range(rows):
            text = " ".join(rng.choices(words, k=rng.randint(6, 16)))
            writer.writerow([f"{text} {index}", f"{prefix}{rng.randrange(classes)}"])
    partial.rename(path)


def _config(work: Path, source: Path, target: Path, encoder: Path) -> Path:
    config = work / "rebuild.yaml"
    config.write_text(f"""output_root: {work / 'out'}
sources:
  - {{name: source, path: {source}, format: csv}}
  - {{name: target, path: {target}, format: csv}}
stages:
  ingest: {{num_shards: 0}}
  embed: {{model: {encoder}, batch_size: 256, max_length: 32}}
  prune: {{source: source, target: target, retain_classes: 50, num_shards: 0}}
""")
    return config


def _peak_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _tree(pid: int) -> list[int]:
    """The Python processes of a process tree (not the shells that start SDK workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    pids = [root.pid]
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name().startswith("python"):
                pids.append(child.pid)
    return pids


class PeakMemory:
    """Polls the peak RSS of `runner`'s process tree and of the worker pool's children."""

    def __init__(self, runner: int, pool: int | None) -> None:
        self._runner, self._pool = runner, pool
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self._runner)
            if self._pool is not None:
                pids += _tree(self._pool)[1:]  # the pool's own process idles; its workers work
            for pid in pids:
                peak = _peak_rss_mib(pid)
                if peak is not None:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))
            self._stop.wait(0.5)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        workers = [peak for pid, peak in self.peaks.items() if pid != self._runner]
        return {"runner_peak_mib": round(self.peaks.get(self._runner, 0.0), 1),
                "worker_peak_mib": round(max(workers), 1) if workers else None,
                "worker_processes": len(workers)}


@contextlib.contextmanager
def _worker_pool(env: dict):
    """Beam's external SDK worker pool (its workers start with the `python` on PATH)."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("localhost", port), 1):
                break
            if pool.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker pool did not start")
            time.sleep(0.2)
        yield pool.pid, port
    finally:
        pool.terminate()
        pool.wait(timeout=30)


def _runner_flags(runner: str, port: int | None) -> list[str]:
    if runner == "multi":
        return ["--direct_num_workers", "2"]
    return ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type",
            "EXTERNAL", "--environment_config", f"localhost:{port}"]


def _run_stage(config: Path, stage: str, flags: list[str], env: dict, pool: int | None,
               log: Path, timeout_s: int) -> dict:
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "rebuild", str(config), "--stage", stage,
             *flags], env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
        memory = PeakMemory(process.pid, pool)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "timeout"
        peaks = memory.stop()
    if code != 0:
        raise RuntimeError(f"{stage} failed ({code}); see {log}")
    return {"wall_s": round(time.perf_counter() - started, 1), **peaks}


def _manifest(root: Path, dataset: str) -> dict:
    from transforms.publish import store

    version = store.latest_version(str(root), dataset)
    return store.read_manifest(str(root), dataset, version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[300_000, 1_000_000, 3_000_000])
    parser.add_argument("--runners", nargs="+", choices=["multi", "portable"],
                        default=["multi", "portable"])
    parser.add_argument("--work-dir", type=Path, default=REPO / "benchmarks/work/scale")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/work/scale.json")
    parser.add_argument("--timeout-s", type=int, default=3 * 3600)
    parser.add_argument("--report", action="store_true",
                        help="print the tables of what --out holds, run nothing")
    args = parser.parse_args()
    if args.report:
        results = json.loads(args.out.read_text())
        _print_table(results)
        _print_growth(results)
        return
    sys.path.insert(0, str(REPO))

    args.work_dir = args.work_dir.resolve()  # the config names files by absolute path
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["rows"], r["runner"], r["stage"]) for r in results}
    encoder = _tiny_encoder(args.work_dir / "tiny_encoder")
    words = _words()
    target = args.work_dir / "target.csv"
    _write_corpus(target, TARGET_ROWS, TARGET_CLASSES, "t", 1, words)
    env = dict(os.environ, HF_HUB_OFFLINE="1", GX_ANALYTICS_ENABLED="false",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for rows in args.rows:
        source = args.work_dir / f"source_{rows}.csv"
        _write_corpus(source, rows, SOURCE_CLASSES, "s", 0, words)
        for runner in args.runners:
            if all((rows, runner, stage) in done for stage in STAGES):
                continue
            work = args.work_dir / f"{runner}_{rows}"
            shutil.rmtree(work, ignore_errors=True)  # a stage's figures need a fresh root
            work.mkdir(parents=True)
            config = _config(work, source, target, encoder)
            for stage in STAGES:
                # a fresh pool per stage: a worker's peak memory is its lifetime's
                pool_context = (_worker_pool(env) if runner == "portable"
                                else contextlib.nullcontext((None, None)))
                with pool_context as (pool, port):
                    measured = _run_stage(config, stage, _runner_flags(runner, port), env, pool,
                                          work / f"{stage}.log", args.timeout_s)
                    if stage == "prune":  # equal on both runners, whatever the join
                        pruned = _manifest(work / "out", "pruned_source")
                        measured.update(pruned_rows=pruned["rows"],
                                        content_hash=pruned["content_hash"],
                                        vector_join=pruned["execution"]["vector_join"])
                    results = [r for r in results
                               if (r["rows"], r["runner"], r["stage"]) != (rows, runner, stage)]
                    results.append({"rows": rows, "runner": runner, "stage": stage, **measured})
                    args.out.write_text(json.dumps(results, indent=1))
                    print(json.dumps(results[-1]), flush=True)
            shutil.rmtree(work / "out")  # GBs at 3M; the figures are in --out
    _print_table(results)
    _print_growth(results)


def _print_growth(results: list[dict]) -> None:
    """Per runner and stage: the largest worker's peak at the largest size over the smallest,
    and the runner process's extra bytes per extra row between them."""
    print("\n| runner | stage | rows | worker peak ratio | runner bytes per row |")
    print("|---|---|---|---|---|")
    for runner in sorted({r["runner"] for r in results}):
        for stage in STAGES:
            runs = sorted((r for r in results if r["runner"] == runner and r["stage"] == stage),
                          key=lambda r: r["rows"])
            if len(runs) < 2:
                continue
            small, large = runs[0], runs[-1]
            per_row = ((large["runner_peak_mib"] - small["runner_peak_mib"]) * 2**20
                       / (large["rows"] - small["rows"]))
            print(f"| {runner} | {stage} | {small['rows']:,} → {large['rows']:,} | "
                  f"{(large['worker_peak_mib'] or 0) / (small['worker_peak_mib'] or 1):.2f} | "
                  f"{per_row:,.0f} |")


def _print_table(results: list[dict]) -> None:
    print("| rows | runner | stage | wall s | runner peak MiB | largest worker peak MiB "
          "| worker processes |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(results, key=lambda r: (r["runner"], r["rows"], STAGES.index(r["stage"]))):
        print(f"| {r['rows']:,} | {r['runner']} | {r['stage']} | {r['wall_s']} | "
              f"{r['runner_peak_mib']:,.0f} | {r['worker_peak_mib'] or 0:,.0f} | "
              f"{r['worker_processes']} |")


if __name__ == "__main__":
    main()
