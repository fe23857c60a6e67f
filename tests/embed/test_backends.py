"""The ONNX Runtime backend (fp32 and int8) against torch, the exported artefact's reuse, thread
counts, and the stage: onnx vectors carry their own encoder identity and never reuse torch ones."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.cli import main
from pipelines.config import ConfigError, load_config
from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    EncoderSettings,
    SentenceEncoder,
    encoder_identity,
    resolve_encoder,
)
from transforms.embed.onnx_model import MODEL_FILE, artefact_folder, ensure_exported
from transforms.publish import store

TEXTS = ["where is my card?", "I was charged twice for one coffee",
         "cordless drill with two batteries and a charger", "x", "refund",
         "how do I change the PIN of the card that arrived yesterday in the post?"]
# enough texts for several of the torch backend's chunks
MANY_TEXTS = [f"{text} ({copy})" for copy in range(12) for text in TEXTS]


def _vectors(texts: list[str] = TEXTS, **settings) -> np.ndarray:
    return np.stack(SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, 128, "cpu", **settings))
                    .encode(texts))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, str]:
    root = str(tmp_path_factory.mktemp("onnx_root"))
    location = resolve_encoder(DEFAULT_ENCODER)
    return {precision: ensure_exported(root, location,
                                       encoder_identity(DEFAULT_ENCODER, "onnx", precision),
                                       precision)
            for precision in ("fp32", "int8")} | {"root": root}


def test_onnx_fp32_gives_the_torch_vectors_and_int8_close_ones(exported):
    reference = _vectors()
    fp32 = _vectors(backend="onnx", onnx_file=exported["fp32"])
    int8 = _vectors(backend="onnx", precision="int8", onnx_file=exported["int8"])
    assert (fp32 * reference).sum(1).min() >= 0.99999
    cosine = (int8 * reference).sum(1)
    assert cosine.mean() >= 0.98 and not np.array_equal(int8, fp32)
    assert Path(exported["int8"]).stat().st_size < Path(exported["fp32"]).stat().st_size / 3


def test_thread_counts_do_not_change_a_vector(exported):
    threads = torch.get_num_threads()
    try:
        for settings in ({}, {"backend": "onnx", "onnx_file": exported["fp32"]},
                         {"backend": "onnx", "precision": "int8", "onnx_file": exported["int8"]}):
            assert np.array_equal(_vectors(threads=1, texts=MANY_TEXTS, **settings),
                                  _vectors(threads=2, texts=MANY_TEXTS, **settings)), settings
    finally:
        torch.set_num_threads(threads)


def test_calls_from_two_threads_at_once_give_the_vectors_of_one_call():
    encoder = SentenceEncoder(EncoderSettings(DEFAULT_ENCODER, 128, "cpu", threads=2))
    alone = np.stack(encoder.encode(MANY_TEXTS))
    with ThreadPoolExecutor(2) as callers:
        together = list(callers.map(lambda _: np.stack(encoder.encode(MANY_TEXTS)), range(4)))
    assert all(np.array_equal(alone, vectors) for vectors in together)


def test_encoding_leaves_the_process_thread_count_as_it_was():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _vectors(threads=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_the_export_is_reused_and_an_interrupted_one_made_again(exported):
    identity = encoder_identity(DEFAULT_ENCODER, "onnx", "fp32")
    folder = Path(artefact_folder(exported["root"], identity, "fp32"))
    complete = json.loads((folder / "COMPLETE.json").read_text())
    assert complete["identity"] == identity and complete["precision"] == "fp32"
    before = (folder / MODEL_FILE).stat().st_mtime_ns
    ensure_exported(exported["root"], resolve_encoder(DEFAULT_ENCODER), identity, "fp32")
    assert (folder / MODEL_FILE).stat().st_mtime_ns == before
    (folder / "COMPLETE.json").unlink()
    ensure_exported(exported["root"], resolve_encoder(DEFAULT_ENCODER), identity, "fp32")
    assert (folder / "COMPLETE.json").is_file()


def test_identity_names_backend_and_precision():
    torch_identity = encoder_identity(DEFAULT_ENCODER)
    assert "[" not in torch_identity
    int8 = encoder_identity(DEFAULT_ENCODER, "onnx", "int8")
    assert int8.startswith(f"{DEFAULT_ENCODER}[onnx-int8]@")
    assert int8.split("@")[1] == torch_identity.split("@")[1], "the same weights"


@pytest.mark.parametrize(("embed", "problem"), [
    ("{precision: int8}", "precision: int8 needs backend: onnx"),
    ("{backend: onnx, device: cuda}", "backend: onnx runs on the CPU"),
    ("{threads: 0}", "greater than 0"),
])
def test_backend_settings_are_checked(tmp_path, embed, problem):
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: docs, path: d.jsonl, format: jsonl}]\n"
                      f"stages: {{embed: {embed}}}\n")
    with pytest.raises(ConfigError, match=problem):
        load_config(config)


def test_the_stage_with_int8_publishes_its_own_vectors(tmp_path, capsys):
    (tmp_path / "docs.jsonl").write_text('{"text": "red kettle"}\n{"text": "blue pan"}\n')
    config = tmp_path / "rebuild.yaml"
    base = ("output_root: out\nsources: [{name: docs, path: docs.jsonl, format: jsonl}]\n"
            "stages: {embed: {datasets: [docs]%s}}\n")
    config.write_text(base % "")
    root = str(tmp_path / "out")
    assert main(["rebuild", str(config)]) == 0
    torch_version = store.latest_version(root, "embeddings")
    config.write_text(base % ", backend: onnx, precision: int8, threads: 1")
    assert main(["rebuild", str(config)]) == 0
    assert "texts_encoded=2" in capsys.readouterr().err, "torch vectors are not reused"
    manifest = store.read_manifest(root, "embeddings", store.latest_version(root, "embeddings"))
    assert manifest["models"]["encoder"].startswith(f"{DEFAULT_ENCODER}[onnx-int8]@")
    assert manifest["config"]["threads"] == 1
    assert manifest["config"]["reused_from"] is None
    assert store.latest_version(root, "embeddings") != torch_version
    assert list((tmp_path / "out" / ".models" / "embed").glob("*/COMPLETE.json"))
    assert main(["rebuild", str(config)]) == 0
    assert "embed: inputs, config and code unchanged" in capsys.readouterr().err
