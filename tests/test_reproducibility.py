"""The same version id means the same rows: the whole example rebuild from scratch in separate
checkout folders, on one process, on two worker processes, and on Beam's portable runner with an
external pool of SDK worker processes (the architecture of Dataflow Runner v2)."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipelines.cli import main
from tests.conftest import EXAMPLES
from transforms.publish import store

# Shorter than the example's training, so the test stays quick; still every stage, qgen included,
# with round-trip scoring on (a seeded pool and per-query samples) and deciding.
SHORTER = {"steps: 150": "steps: 20", "train_steps: 60": "train_steps: 6",
           "classifier_steps: 40": "classifier_steps: 4",
           "queries_per_grade: 1": "queries_per_grade: 1\n    round_trip_documents: 3\n"
                                   "    round_trip_pool: 20\n    round_trip_top_k: 2"}


def _checkout(folder: Path, scale: str = "") -> Path:
    """The example config and data as a checkout at `folder` would have them, with an optional
    `scale:` section (which versions nothing)."""
    shutil.copytree(EXAMPLES / "data", folder / "examples" / "data")
    text = (EXAMPLES / "rebuild.yaml").read_text()
    for old, new in SHORTER.items():
        assert old in text
        text = text.replace(old, new)
    config = folder / "examples" / "rebuild.yaml"
    config.write_text(f"scale: {scale}\n{text}" if scale else text)
    return config


def _published(root: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """dataset -> (LATEST version, content hash per split)."""
    found = {}
    for dataset in store.list_datasets(str(root)):
        version = store.latest_version(str(root), dataset)
        manifest = store.read_manifest(str(root), dataset, version)
        found[dataset] = (version, {split: info["content_hash"]
                                    for split, info in manifest["splits"].items()})
    return found


@contextlib.contextmanager
def _worker_pool():
    """Beam's external SDK worker pool in its own process, as Dataflow Runner v2 runs pickled
    DoFns in separate worker processes. It starts workers with the `python` on PATH, so the
    running interpreter's folder goes first (else a worker without Beam hangs the job)."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         f"--service_port={port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("localhost", port), 1):
                break
            assert pool.poll() is None, pool.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the worker pool did not start in 60 s"
            time.sleep(0.2)
        yield port, env
    finally:
        pool.terminate()
        pool.wait(timeout=30)


def test_rebuilds_in_three_folders_on_one_process_two_and_the_portable_runner_are_equal(
        tmp_path, capsys):
    first, second = _checkout(tmp_path / "a"), _checkout(tmp_path / "elsewhere" / "b")
    # Dataflow-sized: every vector join is a shuffle join (CoGroupByKey), not a broadcast.
    portable = _checkout(tmp_path / "c", scale="{broadcast_join_max_rows: 0}")
    assert main(["rebuild", str(first)]) == 0
    assert main(["rebuild", str(second), "--direct_num_workers", "2"]) == 0
    capsys.readouterr()
    one, two = _published(tmp_path / "a" / "out" / "example"), _published(
        tmp_path / "elsewhere" / "b" / "out" / "example")
    assert len(one) == 14 and one == two
    with _worker_pool() as (port, env):
        # a subprocess, so a hung job ends at the timeout instead of hanging the suite
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "rebuild", str(portable),
             "--runner", "PortableRunner", "--job_endpoint", "embed",
             "--environment_type", "EXTERNAL", "--environment_config", f"localhost:{port}"],
            env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _published(tmp_path / "c" / "out" / "example") == one
    for root, join in ((tmp_path / "a" / "out" / "example", "broadcast"),
                       (tmp_path / "c" / "out" / "example", "shuffle")):
        for dataset in ("pruned_source", "distilled"):
            manifest = store.read_manifest(str(root), dataset, one[dataset][0])
            assert manifest["execution"]["vector_join"] == join
