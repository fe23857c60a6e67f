"""Publishing to an object store: Beam's S3 filesystem against a local S3-compatible server
(moto in server mode, its own process), given to Beam with its S3 endpoint option."""

import contextlib
import json
import socket
import subprocess
import sys
import time

import pytest

from pipelines.cli import main
from tests.conftest import example_config_through
from transforms.publish import store

boto3 = pytest.importorskip("boto3", reason="the object-store tests need apache-beam[aws]")
pytest.importorskip("moto", reason="the object-store tests need moto[server]")

BUCKET = "refinery-test"
ROOT = f"s3://{BUCKET}/root"


@pytest.fixture(scope="module")
def s3_flags():
    """A moto server on a free localhost port, one empty bucket, and the Beam flags that point
    Beam's S3 filesystem at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start"
            time.sleep(0.2)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
        yield ["--s3_endpoint_url", endpoint, "--s3_region_name", "us-east-1",
               "--s3_access_key_id", "testing", "--s3_secret_access_key", "testing"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _content(root: str) -> dict[str, tuple[str, str]]:
    """dataset -> (LATEST version, content hash)."""
    found = {}
    for dataset in store.list_datasets(root):
        version = store.latest_version(root, dataset)
        found[dataset] = (version, store.read_manifest(root, dataset, version)["content_hash"])
    return found


def test_rebuild_into_s3_equals_the_local_one_and_a_crashed_promote_shows_nothing(
        pruned_example, tmp_path, s3_flags, capsys, monkeypatch):
    local = _content(str(pruned_example.parent / "out"))
    config = example_config_through(tmp_path, "prune")
    config.write_text(config.read_text().replace(f"output_root: {tmp_path / 'out'}",
                                                 f"output_root: {ROOT}"))
    assert main(["rebuild", str(config), *s3_flags]) == 0
    assert _content(ROOT) == local  # same versions, same rows
    manifest = store.read_manifest(ROOT, "pruned_source", local["pruned_source"][0])
    assert manifest["execution"]["vector_join"] == "broadcast"
    capsys.readouterr()

    assert main(["rebuild", str(config), *s3_flags]) == 0
    assert capsys.readouterr().out.count("unchanged") == len(local)

    assert main(["datasets", "list", ROOT, *s3_flags]) == 0
    listed = capsys.readouterr().out
    assert all(dataset in listed for dataset in local)
    assert main(["datasets", "versions", f"{ROOT}/pruned_source", *s3_flags]) == 0
    assert local["pruned_source"][0] in capsys.readouterr().out
    assert main(["datasets", "show", f"{ROOT}/pruned_source", "--json", *s3_flags]) == 0
    assert json.loads(capsys.readouterr().out)["content_hash"] == local["pruned_source"][1]
    with pytest.raises(SystemExit) as usage:  # argparse's exit for a command-line mistake
        main(["datasets", "list", ROOT, "--s3_endpoint_urll", "x"])
    assert usage.value.code == 2
    assert "did you mean --s3_endpoint_url" in capsys.readouterr().err

    # A crash after the first file of a promote was copied: the object-store promote moves files
    # one by one and writes the manifest last, so the half-copied version must stay invisible.
    filesystems = store.FileSystems

    class CrashMidPromote(filesystems):
        @staticmethod
        def rename(sources, destinations):
            if len(sources) > 1:  # a promote, not LATEST's single-file replace
                filesystems.rename(sources[:1], destinations[:1])
                raise OSError("simulated crash between the file copies of a promote")
            filesystems.rename(sources, destinations)

    narrower = config.read_text().replace("retain_classes: 5 ", "retain_classes: 4 ")
    assert narrower != config.read_text()
    config.write_text(narrower)
    monkeypatch.setattr(store, "FileSystems", CrashMidPromote)
    assert main(["rebuild", str(config), "--stage", "prune", *s3_flags]) == 1
    assert "simulated crash" in capsys.readouterr().err
    monkeypatch.undo()
    assert store.list_versions(ROOT, "pruned_source") == [local["pruned_source"][0]]
    assert store.latest_version(ROOT, "pruned_source") == local["pruned_source"][0]
    assert main(["datasets", "versions", f"{ROOT}/pruned_source", *s3_flags]) == 0
    assert capsys.readouterr().out.count("\n") == 3  # header, rule, the one old version

    # the rerun clears the half copy
    assert main(["rebuild", str(config), "--stage", "prune", *s3_flags]) == 0
    assert len(store.list_versions(ROOT, "pruned_source")) == 2
    new = store.latest_version(ROOT, "pruned_source")
    assert new != local["pruned_source"][0]
    assert store.read_manifest(ROOT, "pruned_source", new)["rows"] > 0
