"""The embed stage's ONNX Runtime backend: the encoder exported with `torch.onnx` (fp32, or int8
through ONNX Runtime's dynamic per-channel quantisation), made once per model, precision and
tool versions and kept as a versioned artefact under `<root>/.models/embed/<key>/`. Free of Beam.

An ONNX file is a protobuf graph of standard operators: loading one runs no code from the folder.
"""

import contextlib
import hashlib
import json
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms import model_store
from transforms.embed.encoder import LOCAL_ONLY, EncoderUnavailable

LOG = logging.getLogger(__name__)
# The operator set the export targets; part of the artefact's key.
OPSET = 18
MODEL_FILE = "model.onnx"


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def artefact_folder(root: str, identity: str, precision: str) -> str:
    """Where the export of `identity` at `precision` lives: keyed by what makes its bytes."""
    key = json.dumps({"identity": identity, "precision": precision, "opset": OPSET,
                      **_tool_versions()}, sort_keys=True)
    return FileSystems.join(root, ".models", "embed", hashlib.sha256(key.encode()).hexdigest()[:16])


@contextlib.contextmanager
def _only_errors(logger: logging.Logger):
    """A library's logger at ERROR for the duration of one call it makes noisy."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# The inputs an exported encoder takes, in this order; a tokenizer feeds a subset of them.
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export_fp32(location: str, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, **LOCAL_ONLY)
    model = AutoModel.from_pretrained(location, **LOCAL_ONLY).eval()
    sample = tokenizer(["an example sentence", "a second, longer example sentence"],
                       padding=True, return_tensors="pt")
    names = [name for name in _INPUTS if name in sample]
    if set(sample) - set(names):
        raise ValueError(f"the tokenizer feeds {sorted(sample)}; the export takes {_INPUTS}")

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              **extra).last_hidden_state

    longest = getattr(model.config, "max_position_embeddings", 512)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=longest)
    # the exporter's notes on operators of packages not installed, and on dynamic-axis names
    with _only_errors(logging.getLogger("torch.onnx")), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHiddenState(), tuple(sample[n] for n in names), str(target),
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_shapes={n: {0: batch, 1: length} for n in names},
                          opset_version=OPSET, dynamo=True, external_data=False, verbose=False)


def _quantise_int8(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # DefaultTensorType: shape inference cannot type every tensor of the exported graph
    with _only_errors(logging.getLogger()):  # its advice to pre-process is for static quantisation
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def ensure_exported(root: str, location: str, identity: str, precision: str) -> str:
    """The path of the ONNX file for the encoder at `location` (`identity`): exported and stored
    on first use, reused after. A folder without its completion marker is exported again."""
    folder = artefact_folder(root, identity, precision)
    if model_store.is_complete(folder):
        return FileSystems.join(folder, MODEL_FILE)
    LOG.info("embed: exporting %s to ONNX (%s) into %s", identity, precision, folder)
    with tempfile.TemporaryDirectory(prefix="refinery-onnx-") as work:
        fp32 = Path(work, "fp32", MODEL_FILE)
        fp32.parent.mkdir()
        try:
            _export_fp32(location, fp32)
            if precision == "int8":
                int8 = Path(work, "int8", MODEL_FILE)
                int8.parent.mkdir()
                _quantise_int8(fp32, int8)
                fp32.unlink()
        except (RuntimeError, ValueError, TypeError, OSError) as error:  # names what it lacks
            raise EncoderUnavailable(f"encoder {identity}: the ONNX export failed "
                                     f"({type(error).__name__}: {str(error)[:300]}); use "
                                     "backend: torch") from None
        model_store.upload(str(Path(work, precision)), folder,
                           {"identity": identity, "precision": precision, "opset": OPSET,
                            **_tool_versions()})
    return FileSystems.join(folder, MODEL_FILE)


class OnnxLastHiddenState:
    """An ONNX Runtime session on an exported encoder: tokenizer outputs in, token vectors out."""

    def __init__(self, path: str, threads: int | None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, one per core
        options.inter_op_num_threads = 1
        with FileSystems.open(path) as handle:  # any Beam filesystem; no local copy needed
            model = handle.read()
        self._session = onnxruntime.InferenceSession(model, options,
                                                     providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]

    def __call__(self, batch: dict) -> np.ndarray:
        feeds = {name: batch[name].numpy() for name in self._inputs}
        return self._session.run(None, feeds)[0]  # (B, L, d)
