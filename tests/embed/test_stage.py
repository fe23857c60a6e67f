"""The embed stage reuses the previous version's vectors, and its version says so."""

from pipelines.cli import main
from transforms.publish import store


def test_new_texts_reuse_the_previous_vectors_and_a_rerun_is_a_noop(tmp_path, capsys):
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "red kettle"}\n{"text": "blue pan"}\n')
    config = tmp_path / "rebuild.yaml"
    config.write_text("output_root: out\nsources: [{name: docs, path: docs.jsonl, format: jsonl}]\n"
                      "stages: {embed: {datasets: [docs]}}\n")
    root = str(tmp_path / "out")
    assert main(["rebuild", str(config)]) == 0
    first = store.latest_version(root, "embeddings")
    assert store.read_manifest(root, "embeddings", first)["config"]["reused_from"] is None
    with source.open("a") as handle:
        handle.write('{"text": "green wok"}\n')
    assert main(["rebuild", str(config)]) == 0
    second = store.latest_version(root, "embeddings")
    manifest = store.read_manifest(root, "embeddings", second)
    assert second != first and manifest["config"]["reused_from"] == first
    assert "texts_encoded=1, texts_reused=2" in capsys.readouterr().err
    assert main(["rebuild", str(config)]) == 0
    assert "embed: inputs, config and code unchanged" in capsys.readouterr().err
    assert store.latest_version(root, "embeddings") == second
