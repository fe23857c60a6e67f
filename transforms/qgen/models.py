"""The two models QGen trains on labelled (query, document, grade) triples. Free of Beam.

- generator: a seq2seq model, `generator_input(document, grade)` -> query. The default
  (`minilm-encoder-decoder`) is an encoder-decoder warm-started from the bundled all-MiniLM-L6-v2
  weights on both sides; its cross-attention starts untrained. Any seq2seq model folder or cached
  Hugging Face id works instead.
- classifier: a cross-encoder (query, document) -> grade, fine-tuned from a sequence encoder
  (default: the bundled MiniLM); it judges whether a generated query is faithful to its grade.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from transforms.embed.encoder import (
    DEFAULT_ENCODER,
    LOCAL_ONLY,
    EncoderUnavailable,
    resolve_encoder,
)
from transforms.progress import StepProgress
from transforms.qgen.sampling import row_seed, sample_next_tokens

DEFAULT_GENERATOR = "minilm-encoder-decoder"


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    seed: int
    device: str
    max_document_tokens: int
    max_query_tokens: int

    @property
    def pair_tokens(self) -> int:
        """Token limit of a (query, document) pair for the classifier."""
        return self.max_document_tokens + self.max_query_tokens


def _train(model: torch.nn.Module, loss_of: Callable[[list[int]], torch.Tensor], n_examples: int,
           settings: TrainSettings, what: str) -> list[float]:
    """AdamW with linear decay over `steps` random mini-batches (seeded); logs progress with ETA
    (loss: mean of the last 20 batches) every 10 s. `loss_of(indices)` computes a batch's loss."""
    rng = random.Random(settings.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 1.0 - step / max(settings.steps, 1))
    model.train()
    losses = []
    progress = StepProgress(f"qgen: {what}", settings.steps)
    for step in range(1, settings.steps + 1):
        loss = loss_of([rng.randrange(n_examples) for _ in range(settings.batch_size)])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        progress.step(step, float(np.mean(losses[-20:])))
    model.eval()
    return losses


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

        return _train(self.model, loss_of, len(sources), settings, "generator")

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


class GradeClassifier:
    """A cross-encoder over (query, document) pairs with one output per grade."""

    def __init__(self, model, tokenizer, grades: list[str], device: str = "cpu") -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.grades = grades
        self.device = device

    @classmethod
    def base(cls, name: str, grades: list[str], seed: int,
             device: str = "cpu") -> "GradeClassifier":
        """A new grade head on a sequence encoder (offline); the head starts from `seed`."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.manual_seed(seed)
        location = resolve_encoder(name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
            model = AutoModelForSequenceClassification.from_pretrained(
                location, num_labels=len(grades), **LOCAL_ONLY,
                id2label=dict(enumerate(grades)), label2id={g: i for i, g in enumerate(grades)})
        except (OSError, ValueError) as error:
            raise EncoderUnavailable(f"classifier {name!r} cannot be loaded offline: "
                                     f"{error}") from None
        return cls(model, tokenizer, grades, device)

    @classmethod
    def load(cls, folder: str, device: str = "cpu") -> "GradeClassifier":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model = AutoModelForSequenceClassification.from_pretrained(folder, **LOCAL_ONLY)
        grades = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return cls(model, AutoTokenizer.from_pretrained(folder, **LOCAL_ONLY), grades,
                   device)

    def save(self, folder: str) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _encode(self, queries: list[str], documents: list[str], max_tokens: int):
        return self.tokenizer(queries, documents, padding=True, truncation="only_second",
                              max_length=max_tokens, return_tensors="pt").to(self.device)

    def train(self, queries: list[str], documents: list[str], grades: list[str],
              settings: TrainSettings) -> list[float]:
        torch.manual_seed(settings.seed)
        labels = torch.tensor([self.grades.index(g) for g in grades])
        def loss_of(indices: list[int]) -> torch.Tensor:
            batch = self._encode([queries[i] for i in indices], [documents[i] for i in indices],
                                 settings.pair_tokens)
            return self.model(**batch, labels=labels[indices].to(self.device)).loss

        return _train(self.model, loss_of, len(queries), settings, "classifier")

    @torch.inference_mode()
    def probabilities(self, queries: list[str], documents: list[str],
                      max_tokens: int) -> torch.Tensor:
        """(pairs, grades) probabilities, on the CPU."""
        logits = self.model(**self._encode(queries, documents, max_tokens)).logits
        return logits.float().softmax(-1).cpu()

    def predict(self, queries: list[str], documents: list[str],
                max_tokens: int) -> list[tuple[str, float]]:
        """(predicted grade, its probability) per pair."""
        probabilities = self.probabilities(queries, documents, max_tokens)
        best = probabilities.argmax(-1)
        return [(self.grades[int(i)], float(probabilities[row, i]))
                for row, i in enumerate(best)]
