"""The query generator QGen trains on (query, document, grade) triples: a seq2seq model,
`generator_input(document, grade)` -> query. The default (`minilm-encoder-decoder`) is an
encoder-decoder warm-started from the bundled all-MiniLM-L6-v2 weights on both sides; its
cross-attention starts untrained. Any seq2seq model folder or cached Hugging Face id works
instead. Free of Beam; versioned by this module and what it imports.
"""

from dataclasses import dataclass

import torch

from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    LOCAL_ONLY,
    EncoderUnavailable,
    resolve_encoder,
)
from transforms.qgen.grades import generator_input
from transforms.qgen.sampling import row_seed, sample_next_tokens
from transforms.qgen.training import TrainSettings, Triple, final_loss, train_into, train_loop

DEFAULT_GENERATOR = "minilm-encoder-decoder"


class Generator:
    """A seq2seq query generator with its tokenizer."""

    def __init__(self, model, tokenizer, device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device

    @classmethod
    def base(cls, name: str, seed: int, device: str = "cpu") -> "Generator":
        """The untrained starting point: the MiniLM warm start, or a seq2seq model (offline).
        Weights the checkpoint lacks (the warm start's cross-attention) start from `seed`."""
        from transformers import AutoTokenizer, EncoderDecoderModel

        torch.manual_seed(seed)
        try:
            if name == DEFAULT_GENERATOR:
                location = resolve_encoder(DEFAULT_ENCODER)
                tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
                model = EncoderDecoderModel.from_encoder_decoder_pretrained(
                    location, location, **LOCAL_ONLY)
                for config in (model.config, model.generation_config):
                    config.decoder_start_token_id = tokenizer.cls_token_id
                    config.pad_token_id = tokenizer.pad_token_id
                    config.eos_token_id = tokenizer.sep_token_id
            else:
                return cls.load(name, device)
        except (OSError, ValueError) as error:
            raise EncoderUnavailable(f"generator {name!r} cannot be loaded offline: "
                                     f"{error}") from None
        return cls(model, tokenizer, device)

    @classmethod
    def load(cls, folder: str, device: str = "cpu") -> "Generator":
        """A seq2seq model folder (or cached id), e.g. one this stage trained and saved."""
        from transformers import (
            AutoConfig,
            AutoModelForSeq2SeqLM,
            AutoTokenizer,
            EncoderDecoderModel,
        )

        tokenizer = AutoTokenizer.from_pretrained(folder, **LOCAL_ONLY)
        if AutoConfig.from_pretrained(folder, **LOCAL_ONLY).model_type == \
                "encoder-decoder":  # no auto seq2seq class covers a composed encoder-decoder
            model = EncoderDecoderModel.from_pretrained(folder, **LOCAL_ONLY)
        else:
            model = AutoModelForSeq2SeqLM.from_pretrained(folder, **LOCAL_ONLY)
        return cls(model, tokenizer, device)

    def save(self, folder: str) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def train(self, sources: list[str], queries: list[str], settings: TrainSettings) -> list[float]:
        torch.manual_seed(settings.seed)
        pad = self.tokenizer.pad_token_id

        def loss_of(indices: list[int]) -> torch.Tensor:
            inputs = self.tokenizer([sources[i] for i in indices], padding=True, truncation=True,
                                    max_length=settings.max_document_tokens,
                                    return_tensors="pt").to(self.device)
            labels = self.tokenizer([queries[i] for i in indices], padding=True, truncation=True,
                                    max_length=settings.max_query_tokens,
                                    return_tensors="pt").input_ids.to(self.device)
            labels[labels == pad] = -100  # padding is not a target
            return self.model(**inputs, labels=labels).loss

        return train_loop(self.model, loss_of, len(sources), settings, "generator")

    @torch.inference_mode()
    def generate(self, sources: list[str], seeds: list[int], n: int, *, top_k: int,
                 top_p: float, temperature: float, max_document_tokens: int,
                 max_query_tokens: int) -> list[list[str]]:
        """n sampled queries per source text; query j of source i is drawn with its own
        generator seeded by (seeds[i], j), so it does not depend on the rest of the batch."""
        from transformers.modeling_outputs import BaseModelOutput

        inputs = self.tokenizer(sources, padding=True, truncation=True,
                                max_length=max_document_tokens, return_tensors="pt").to(self.device)
        hidden = self.model.get_encoder()(**inputs).last_hidden_state  # (B, S, h)
        encoded = BaseModelOutput(last_hidden_state=hidden.repeat_interleave(n, 0))  # (B*n, S, h)
        mask = inputs["attention_mask"].repeat_interleave(n, 0)  # (B*n, S)
        generators = [torch.Generator().manual_seed(row_seed(seed, j))
                      for seed in seeds for j in range(n)]
        config = self.model.generation_config
        start = config.decoder_start_token_id
        if start is None:
            start = self.model.config.decoder_start_token_id
        tokens = torch.full((len(generators), 1), start, dtype=torch.long, device=self.device)
        finished = torch.zeros(len(generators), dtype=torch.bool, device=self.device)
        past = None
        for _ in range(max_query_tokens):
            output = self.model(encoder_outputs=encoded, attention_mask=mask,
                                decoder_input_ids=tokens if past is None else tokens[:, -1:],
                                cache=past, use_cache=True)
            past = output.cache
            chosen = sample_next_tokens(output.logits[:, -1, :].cpu(), generators, top_k=top_k,
                                        top_p=top_p, temperature=temperature).to(self.device)
            chosen = chosen.masked_fill(finished, config.pad_token_id)  # (B*n,)
            tokens = torch.cat([tokens, chosen[:, None]], dim=1)
            finished |= chosen == config.eos_token_id
            if bool(finished.all()):
                break
        texts = self.tokenizer.batch_decode(tokens[:, 1:], skip_special_tokens=True)
        return [texts[i * n:(i + 1) * n] for i in range(len(sources))]


@dataclass(frozen=True)
class GeneratorTraining:
    base: str  # base model name
    conditioned: bool  # grade-conditioned inputs, or the document alone
    settings: TrainSettings
    threads: int  # torch threads: the same seed gives the same weights only with the same count


def train_generator(triples: list[Triple], training: GeneratorTraining, folder: str) -> dict:
    """Train (or reuse) the generator in `folder`; returns its record (COMPLETE.json)."""
    def fit(triples: list[Triple]) -> tuple[Generator, dict]:
        settings = training.settings
        generator = Generator.base(training.base, settings.seed, settings.device)
        sources = [generator_input(t.document, t.grade if training.conditioned else None)
                   for t in triples]
        losses = generator.train(sources, [t.query for t in triples], settings)
        return generator, {"base": training.base, "final_loss": final_loss(losses)}

    return train_into(folder, "generator", triples, training.threads, fit)
