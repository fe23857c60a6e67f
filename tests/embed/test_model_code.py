"""A model folder that ships its own code (`auto_map`) never runs it and never prompts."""

import json

import pytest

from transforms.embed.encoder import EncoderUnavailable, encoder_identity
from transforms.student.model import TokenEmbeddingTable


@pytest.fixture
def planted_model(tmp_path):
    """A folder whose config asks for its own configuration code; the code writes a marker."""
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "planted-architecture",
        "auto_map": {"AutoConfig": "configuration_planted.PlantedConfig",
                     "AutoModel": "modeling_planted.PlantedModel"}}))
    marker = tmp_path / "ran"
    for module in ("configuration_planted", "modeling_planted"):
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (folder / "model.safetensors").write_bytes(b"not really weights")
    return folder, marker


def test_the_identity_check_refuses_a_folder_that_needs_its_code(planted_model, monkeypatch):
    folder, marker = planted_model
    monkeypatch.setattr("builtins.input", lambda *_: pytest.fail("transformers prompted"))
    with pytest.raises(EncoderUnavailable, match="cannot be loaded without running code it ships"):
        encoder_identity(str(folder))
    with pytest.raises(EncoderUnavailable, match=f"cannot load '{folder}' offline"):
        TokenEmbeddingTable.load(str(folder))
    assert not marker.exists()
