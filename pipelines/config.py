"""The typed rebuild config: one YAML file, validated on load before any work starts.

Relative paths resolve against the config file's folder. Errors name the key (e.g.
`sources[1].format`) or the path, so a scheduler log says exactly what to fix.
"""

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from transforms.distill.krr_st import KrrStSettings
from transforms.distill.synthetic_set import DistillSettings
from transforms.distill.targets import TargetNormalisation
from transforms.embed.encoder import DEFAULT_ENCODER
from transforms.ingest.records import CANONICAL_FIELDS
from transforms.student.model import StudentSettings

_NAME = re.compile(r"[a-z][a-z0-9_]*")  # fullmatch: `$` would let a final "\n" through
# The method's own defaults (KRR-ST, the student architecture) are declared where the method is,
# and the config sections take them from there.
_KRR = KrrStSettings()
_DISTILL_TARGETS = DistillSettings.target_normalisation
_STUDENT = StudentSettings()
SHARDS = ("Parquet files per split; 0 lets the runner decide, which writes as rows stream in "
          "instead of shuffling them to a fixed number of writers")



class ConfigError(ValueError):
    """A config that cannot run: shown to the user as one message, exit code 2."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One input corpus: where it is, how to read it, which columns become which fields."""

    name: str
    path: str = Field(description="file, glob or saved-dataset folder on any Beam filesystem")
    format: Literal["jsonl", "csv", "parquet", "hf"]
    kind: Literal["document", "judgement"] = "document"
    fields: dict[str, str] = Field(default_factory=dict,
                                   description="canonical field -> source column")
    encoding: str = "utf-8"
    csv_delimiter: str = ","
    hf_split: str | None = None
    dataset: str | None = Field(default=None, description="published dataset; default: name")
    split: str = "train"
    max_bad_row_fraction: float = Field(
        default=0.5, ge=0.0, le=1.0, description="more of the rows read going to dead letter "
        "fails the ingest stage, nothing of it published (1: never)")

    @field_validator("name", "dataset", "split")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.fullmatch(value):
            raise ValueError(f"{value!r} must be lower_snake_case (letters, digits, _)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        if "\n".encode(value) != b"\n":  # files are split into lines before decoding
            raise ValueError(f"encoding {value!r} is not line-compatible with ASCII (e.g. UTF-16); "
                             "convert the file to UTF-8 first")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if "kind" not in info.data:  # kind itself was invalid; that is the error to report
            return value
        kind = info.data["kind"]
        required, optional = CANONICAL_FIELDS[kind]
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown} for kind {kind!r}; "
                             f"known: {sorted(required + optional)}")
        return value

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.name


class IngestConfig(_Strict):
    """Settings of the ingest stage."""

    max_text_length: int = Field(default=10_000, gt=0)
    keep_unmapped_as_metadata: bool = True
    num_shards: int = Field(default=1, ge=0, description=SHARDS)


class EmbedConfig(_Strict):
    """Settings of the embed stage: one vector per distinct text, reused across runs."""

    model: str = Field(default=DEFAULT_ENCODER,
                       description="Hugging Face id (in the local cache) or folder")
    datasets: list[str] | None = Field(
        default=None, description="datasets to embed; default: those later stages read")
    batch_size: int = Field(default=64, gt=0)
    length_sort_batches: int = Field(
        default=50, ge=0, description="texts are batched within buckets of about this many "
        "batches, sorted by length so batches carry little padding; 0: hash order")
    max_length: int = Field(default=128, gt=0)
    device: Literal["cpu", "cuda"] = "cpu"
    backend: Literal["torch", "onnx"] = Field(
        default="torch", description="onnx: ONNX Runtime on an export of the model, made on "
        "first use and kept under <root>/.models/embed/")
    precision: Literal["fp32", "int8"] = Field(
        default="fp32", description="int8: dynamic per-channel quantised weights (onnx only)")
    threads: int | None = Field(
        default=None, gt=0, description="threads per worker process (torch on a CPU: chunks of "
        "32 texts encoded at once, one per thread; onnx: ONNX Runtime's intra-op threads); "
        "default: one per core")
    num_shards: int = Field(default=0, ge=0, description=SHARDS)

    @model_validator(mode="after")
    def _backend(self) -> "EmbedConfig":
        if self.precision == "int8" and self.backend != "onnx":
            raise ValueError("precision: int8 needs backend: onnx")
        if self.backend == "onnx" and self.device != "cpu":
            raise ValueError("backend: onnx runs on the CPU; use device: cpu (or backend: torch)")
        return self


class PruneConfig(_Strict):
    """Settings of the prune stage (label mapping, or feature mapping for an unlabelled source)."""

    source: str = Field(description="published dataset to prune")
    source_split: str = "train"
    target: str = Field(description="published dataset of the target task")
    target_split: str = "train"
    mode: Literal["label", "feature"] = "label"
    surrogate: Literal["centroid", "linear"] = "centroid"
    retain_classes: int | None = Field(default=None, gt=0)
    prune_ratio: float | None = Field(default=None, ge=0.0, lt=1.0)
    clusters: int = Field(default=50, ge=2, description="k of k-means in feature mode")
    reservoir_size: int = Field(default=20_000, gt=0,
                                description="source vectors sampled to fit k-means")
    linear_sample_per_class: int = Field(default=1_000, gt=0,
                                         description="source vectors per class to fit `linear`")
    target_labels: list[str] | None = Field(
        default=None, description="allowed target labels; others go to dead letter")
    num_shards: int = Field(default=1, ge=0, description=SHARDS)

    @model_validator(mode="after")
    def _one_size(self) -> "PruneConfig":
        if (self.retain_classes is None) == (self.prune_ratio is None):
            raise ValueError("set exactly one of retain_classes and prune_ratio")
        if (self.source, self.source_split) == (self.target, self.target_split):
            raise ValueError("source and target are the same dataset split; the target must be "
                             "the task the source is pruned for")
        return self


class StudentConfig(_Strict):
    """The compact student the synthetic set is learned for (and that later pre-trains on it)."""

    d_model: int = Field(default=_STUDENT.d_model, gt=0)
    layers: int = Field(default=_STUDENT.layers, gt=0)
    heads: int = Field(default=_STUDENT.heads, gt=0)
    ff: int = Field(default=_STUDENT.ff, gt=0)

    @model_validator(mode="after")
    def _heads_divide(self) -> "StudentConfig":
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by heads {self.heads}")
        return self


class DistillConfig(_Strict):
    """Settings of the distill stage (KRR-ST): m synthetic token-embedding sequences + targets."""

    source: str = Field(description="published document dataset to distil; labels are ignored")
    source_split: str = "train"
    m: int = Field(default=_KRR.m, gt=0, description="synthetic examples")
    sequence_length: int = Field(default=_STUDENT.max_len, gt=0,
                                 description="L: tokens per sequence")
    table: str | None = Field(
        default=None, description="model whose input embeddings form the input space; default: "
        "the teacher (the embed stage's model)")
    pool_size: int = Field(default=_KRR.pool_size, gt=0,
                           description="P: students in the model pool")
    pool_steps: int = Field(default=_KRR.pool_steps, ge=2,
                            description="T: steps before a student resets")
    real_batch: int = Field(default=_KRR.real_batch, gt=0,
                            description="B: real texts per outer step")
    steps: int = Field(default=_KRR.steps, gt=0, description="outer steps")
    lr: float = Field(default=_KRR.lr, gt=0)
    pool_lr: float = Field(default=_KRR.pool_lr, gt=0)
    ridge: float = Field(default=_KRR.ridge, gt=0, description="lambda = ridge * tr(K_ss)")
    target_normalisation: TargetNormalisation = Field(
        default=_DISTILL_TARGETS, description="teacher vectors as KRR-ST's targets: `standardise` "
        "(per dimension, corpus statistics published with the set), `layer_norm` (per vector) or "
        "`none`")
    student: StudentConfig = StudentConfig()
    device: Literal["cpu", "cuda"] = "cpu"
    checkpoint_every: int = Field(default=100, gt=0, description="steps between checkpoints")
    tokenize_batch: int = Field(default=256, gt=0)
    max_real_texts: int = Field(
        default=250_000, gt=0, description="real texts the one optimisation worker holds (about "
        "7.5 KB of memory each at L = 32, t = 384, measured); above it, a seeded sample (the same "
        "on any runner) of this many")

    @model_validator(mode="after")
    def _sample_holds_m(self) -> "DistillConfig":
        if self.max_real_texts < self.m:
            raise ValueError(f"max_real_texts {self.max_real_texts:,} is below m = {self.m:,}: "
                             "the synthetic set is learned from at least m real texts")
        return self
    num_shards: int = Field(default=1, ge=0, description=SHARDS)


class QgenConfig(_Strict):
    """Settings of the qgen stage: train a grade-conditioned query generator and a grade
    classifier on judgements, generate queries for documents, keep the faithful ones."""

    judgements: str = Field(description="published judgement dataset to train on")
    judgements_split: str = "train"
    documents: str = Field(description="published document dataset the judgements' doc_ids name")
    documents_split: str = "train"
    target: str | None = Field(default=None, description="document dataset to generate queries "
                               "for; default: `documents`")
    target_split: str = "train"
    grades: dict[str, float] = Field(
        default_factory=lambda: {"Irrelevant": 1.0, "Partial": 2.0, "Exact": 3.0},
        description="grade name -> rating; a raw rating is rounded half up and looked up")
    mode: Literal["conditioned", "unconditioned"] = "conditioned"
    generator: str = Field(default="minilm-encoder-decoder",
                           description="seq2seq model folder or cached HF id; the default is "
                           "warm-started from the bundled all-MiniLM-L6-v2")
    classifier: str = Field(default=DEFAULT_ENCODER, description="cross-encoder base model")
    train_steps: int = Field(default=1500, gt=0)
    classifier_steps: int = Field(default=500, gt=0)
    train_batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    classifier_lr: float = Field(default=5e-5, gt=0)
    classifier_balance: Literal["sampled", "weighted", "none"] = Field(
        default="sampled", description="how the classifier sees rare grades: grade-balanced "
        "batches, loss weighted by inverse grade frequency, or as the judgements come")
    calibration_fraction: float = Field(
        default=0.1, gt=0, lt=0.5, description="share of the training judgements (a seeded "
        "slice) the classifier does not train on; its per-grade recall there is in the manifest")
    max_document_tokens: int = Field(default=128, gt=0)
    max_query_tokens: int = Field(default=16, gt=0)
    queries_per_grade: int = Field(default=2, gt=0)
    top_k: int = Field(default=50, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    temperature: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=32, gt=0, description="documents per generation batch")
    length_sort_batches: int = Field(
        default=20, ge=0, description="inputs are batched within buckets of about this many "
        "batches, sorted by length; 0: hash order")
    drop_copied: Literal["contained", "whole", "off"] = Field(
        default="whole", description="qgen_filter drops a query copied from its document: "
        "one that appears anywhere in it, one that is the whole document, or none")
    faithfulness: Literal["filter", "annotate"] = Field(
        default="filter", description="qgen_filter drops the queries not faithful to their "
        "grade, or keeps all with `faithful` set")
    faithfulness_threshold: dict[str, float] = Field(
        default_factory=dict, description="grade -> the probability of that grade a query "
        "asked for it needs to be faithful; a grade not named gets the threshold chosen on the "
        "classifier's calibration slice (manifest reports.filter.thresholds)")
    round_trip_documents: int = Field(
        default=0, ge=0, description="other target documents each query (of every grade but "
        "the lowest) is also scored against; its own document's rank among them is published "
        "as own_document_rank. 0: off (each costs one more classifier pass per query)")
    round_trip_pool: int = Field(
        default=1000, gt=0, description="target documents (a seeded sample) the others are "
        "drawn from: every scoring worker holds them")
    round_trip_top_k: int | None = Field(
        default=None, gt=0, description="qgen_filter keeps a checked query only when its own "
        "document ranks in the top k; needs round_trip_documents; none: not a filter")
    device: Literal["cpu", "cuda"] = "cpu"
    num_shards: int = Field(default=1, ge=0, description=SHARDS)
    max_train_triples: int = Field(
        default=200_000, gt=0, description="training triples the training worker holds; above "
        "it, a seeded sample (the same on any runner) of this many")
    threads: int | None = Field(
        default=None, gt=0, description="torch threads per worker process while generating "
        "and judging; default: torch's (one per core)")
    train_threads: int = Field(
        default=2, gt=0, description="torch threads while training: the trained weights depend on "
        "the thread count, so a fixed count makes training repeatable across machines with the "
        "same torch version and CPU instruction set")
    train_seed: int | None = Field(
        default=None, description="seed of model training; default: the rebuild seed. Pin it to "
        "sample queries with other rebuild seeds from the same trained models")

    @field_validator("grades")
    @classmethod
    def _two_grades(cls, value: dict[str, float]) -> dict[str, float]:
        if len(value) < 2:
            raise ValueError("define at least two grades")
        if len(set(value.values())) < len(value):
            raise ValueError("two grades share a rating")
        if any(v != int(v) for v in value.values()):
            raise ValueError("grade ratings must be whole numbers (ratings are rounded to them)")
        return value

    @field_validator("faithfulness_threshold")
    @classmethod
    def _probabilities(cls, value: dict[str, float]) -> dict[str, float]:
        for grade, threshold in value.items():
            if not 0 < threshold <= 1:
                raise ValueError(f"the threshold of {grade!r} is {threshold:g}: a probability "
                                 "threshold lies in (0, 1]")
        return value

    @model_validator(mode="after")
    def _round_trip(self) -> "QgenConfig":
        if self.round_trip_top_k is not None and not self.round_trip_documents:
            raise ValueError("round_trip_top_k needs round_trip_documents (the number of other "
                             "documents to rank each query's own among) above 0")
        if self.round_trip_documents >= self.round_trip_pool:
            raise ValueError(f"round_trip_documents ({self.round_trip_documents}) must be below "
                             f"round_trip_pool ({self.round_trip_pool}), the documents they are "
                             "drawn from")
        return self

    @model_validator(mode="after")
    def _thresholds_name_grades(self) -> "QgenConfig":
        unknown = sorted(set(self.faithfulness_threshold) - set(self.grades))
        if unknown:
            raise ValueError(f"faithfulness_threshold names {', '.join(map(repr, unknown))}, "
                             f"which is no grade; the grades: {', '.join(self.grades)}")
        return self


class StagesConfig(_Strict):
    ingest: IngestConfig = IngestConfig()
    embed: EmbedConfig | None = None
    prune: PruneConfig | None = None
    distill: DistillConfig | None = None
    qgen: QgenConfig | None = None


class CardConfig(_Strict):
    """What every dataset card says beyond the data; changing it re-versions nothing (the rows
    do not change): it applies to the versions published after the change."""

    license: str = Field(default="unknown",
                         description="a Hugging Face license id: cc-by-4.0, apache-2.0, other, ...")
    description: str | None = None


class ScaleConfig(_Strict):
    """How work is spread over workers; changing it re-versions nothing (every choice here gives
    the same rows), and the manifest's `execution` section records what a version used."""

    broadcast_join_max_rows: int = Field(
        default=500_000, ge=0, description="records a stage pairs with their vectors by a "
        "broadcast join, held by every worker process (about 2.7 KB each with 70-character "
        "texts, measured: ~1.3 GB at the default); above it, a shuffle join (CoGroupByKey), which Dataflow spills to its "
        "shuffle service")


class RebuildConfig(_Strict):
    """A whole rebuild: sources, stage settings, where to publish, the seed."""

    output_root: str
    seed: int = 0
    sources: list[SourceConfig] = Field(min_length=1)
    stages: StagesConfig = StagesConfig()
    card: CardConfig = CardConfig()
    scale: ScaleConfig = ScaleConfig()
    # Set by `load_config`, not by the YAML: the folder relative paths resolve against.
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> "RebuildConfig":
        names = [s.name for s in self.sources]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"sources: duplicate source name(s) {duplicated}")
        seen: dict[tuple[str, str], str] = {}
        kinds: dict[str, str] = {}
        for source in self.sources:
            key = (source.dataset_name, source.split)
            if key in seen:
                raise ValueError(f"sources: {seen[key]!r} and {source.name!r} both publish "
                                 f"{key[0]}/{key[1]}; give one a different dataset or split")
            seen[key] = source.name
            if kinds.setdefault(source.dataset_name, source.kind) != source.kind:
                raise ValueError(f"sources: dataset {source.dataset_name!r} mixes kinds")
        return self

    def resolve(self, path: str) -> str:
        """A config path as an absolute local path or a filesystem URL."""
        if "://" in path or Path(path).is_absolute():
            return path
        # normpath, not resolve(): a symlinked data folder keeps the name the config gives it
        return os.path.normpath(os.path.join(self.base_dir, path))

    def input_name(self, source: SourceConfig, path: str) -> str:
        """How versions and rows name a file `source` matched: relative to the config's folder
        when the config names the source relatively, so the same data in another checkout is
        the same version; as it is when the config gives an absolute path or a URL."""
        if "://" in source.path or "://" in path or Path(source.path).is_absolute():
            return path
        return Path(os.path.relpath(path, self.base_dir)).as_posix()

    @property
    def root(self) -> str:
        return self.resolve(self.output_root)


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _format_validation_error(error: ValidationError, path: Path) -> str:
    lines = []
    for item in error.errors():
        where = _location(item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"{where}: required key is missing")
        else:
            lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return f"{path}: invalid config\n  " + "\n  ".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML where a repeated key is an error: plain YAML keeps the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[str] = set()
        for key_node, _ in node.value:  # keys as written; a `<<` merge may be overridden
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark)
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def load_config(path: str | Path) -> RebuildConfig:
    """Load and type-check a config; raise ConfigError with one clear message. The inputs it
    names are checked by `pipelines.source_checks.check_sources`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}"
                          ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    try:
        config = RebuildConfig(**raw, base_dir=str(path.resolve().parent))
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, path)) from None
    except TypeError as error:
        raise ConfigError(f"{path}: invalid config: {error}") from None
    return config
