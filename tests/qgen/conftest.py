"""Tiny randomly initialised models with the bundled tokenizer, so qgen tests train in seconds."""

from pathlib import Path

import pytest


def _tiny_bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=160,
                      **extra)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """{"generator": a seq2seq folder, "classifier": an encoder folder}."""
    import torch
    from transformers import AutoTokenizer, BertModel, EncoderDecoderModel

    from transforms.embed.encoder import DEFAULT_ENCODER, resolve_encoder

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny_models")
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(DEFAULT_ENCODER),
                                              local_files_only=True)
    encoder = BertModel(_tiny_bert_config())
    encoder.save_pretrained(root / "classifier")
    tokenizer.save_pretrained(root / "classifier")
    from transformers import BertLMHeadModel

    decoder = BertLMHeadModel(_tiny_bert_config(is_decoder=True, add_cross_attention=True))
    model = EncoderDecoderModel(encoder=BertModel(_tiny_bert_config()), decoder=decoder)
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id = tokenizer.cls_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.eos_token_id = tokenizer.sep_token_id
    model.save_pretrained(root / "generator")
    tokenizer.save_pretrained(root / "generator")
    return {"generator": root / "generator", "classifier": root / "classifier"}
