"""Encoders other than MiniLM: the pooling a sentence-transformers folder declares is honoured."""

import json

import numpy as np
import pytest

from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    EncoderSettings,
    EncoderUnavailable,
    SentenceEncoder,
    encoder_identity,
    resolve_encoder,
)

TEXTS = ["a red kettle with a whistle", "pan", "cast iron frying pan, twelve inch"]


def _tiny_sentence_model(folder, pooling: dict, modules: list[str]) -> None:
    """A randomly initialised tiny BERT with the bundled tokenizer, as a sentence-transformers
    folder with the given pooling config and modules."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_encoder(DEFAULT_ENCODER)).save_pretrained(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
         "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False, **pooling}))
    paths = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize",
             "Dense": "2_Dense"}
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": paths[m], "type": f"sentence_transformers.models.{m}"}
         for i, m in enumerate(modules)]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))


@pytest.mark.parametrize("mode", ["cls", "max"])
def test_vectors_match_sentence_transformers_for_the_declared_pooling(tmp_path, mode):
    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "model"
    folder.mkdir()
    _tiny_sentence_model(folder, {f"pooling_mode_{'cls_token' if mode == 'cls' else 'max_tokens'}":
                                  True}, ["Transformer", "Pooling"])
    ours = np.stack(SentenceEncoder(EncoderSettings(str(folder), 128, "cpu")).encode(TEXTS))
    reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True,
                                    trust_remote_code=False).encode(TEXTS)
    assert np.allclose(ours, reference, atol=1e-5)
    assert not np.allclose(np.linalg.norm(ours, axis=1), 1.0)  # no Normalize module
    assert f"[{mode}]@" in encoder_identity(str(folder))


def test_a_module_the_encoder_cannot_apply_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    _tiny_sentence_model(folder, {"pooling_mode_mean_tokens": True},
                         ["Transformer", "Pooling", "Dense"])
    with pytest.raises(EncoderUnavailable, match=r"module\(s\) \['Dense'\]"):
        encoder_identity(str(folder))
