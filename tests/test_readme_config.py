"""The README's config table is checked against the typed config model, so neither can drift: every
key is documented, every documented key exists, and a documented default is the model's."""

import re
from pathlib import Path

from pydantic import BaseModel

from pipelines.config import RebuildConfig

README = Path(__file__).resolve().parents[1] / "README.md"
STAGE_PLACEHOLDER = "stages.<stage>."


def _model_keys(model: type[BaseModel], prefix: str = "") -> dict[str, object]:
    """Dotted key -> default for every YAML key of a config model (lists as `[]`)."""
    keys: dict[str, object] = {}
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
        nested = next((a for a in [annotation, *inner]
                       if isinstance(a, type) and issubclass(a, BaseModel)), None)
        key = f"{prefix}{name}"
        if nested is not None and str(annotation).startswith("list"):
            keys.update(_model_keys(nested, f"{key}[]."))
        elif nested is not None:
            keys.update(_model_keys(nested, f"{key}."))
        else:
            keys[key] = None if field.is_required() else field.get_default(call_default_factory=True)
    return keys


def _table_rows() -> list[tuple[list[str], str]]:
    """(documented keys, default cell) per row of the README's config table."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| key | meaning | default |"):]
    table = table[:table.index("\n\n")]
    rows = []
    for line in table.splitlines()[2:]:
        key_cell, _, default_cell = line.strip("|").split(" | ")
        names = re.findall(r"`([^`]+)`", key_cell)
        prefix = names[0].rpartition(".")[0] + "." if "." in names[0] else ""
        keys = [names[0]] + [n if "." in n else prefix + n for n in names[1:]]
        rows.append((keys, default_cell))
    return rows


def _documented(keys: dict[str, object]) -> dict[str, str]:
    """Model key -> the default cell of the README row documenting it."""
    found: dict[str, str] = {}
    for documented, default_cell in _table_rows():
        for key in documented:
            pattern = re.escape(key).replace(re.escape("<stage>"), "[a-z]+")
            matches = [k for k in keys if re.fullmatch(pattern, k) or k.startswith(key + ".")]
            assert matches, f"README documents {key!r}, which the config model does not have"
            for match in matches:
                found[match] = default_cell
    return found


def _spellings(value: object) -> set[str]:
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, float):
        return {repr(value), f"{value:g}", f"{value:.0e}".replace("e-0", "e-")}
    return {str(value)}


def test_every_config_key_is_in_the_readme_table_and_every_row_is_a_key():
    keys = _model_keys(RebuildConfig)
    undocumented = sorted(set(keys) - set(_documented(keys)))
    assert not undocumented, f"config keys missing from the README table: {undocumented}"


def test_documented_defaults_are_the_models():
    keys = _model_keys(RebuildConfig)
    for key, cell in _documented(keys).items():
        default = keys[key]
        if isinstance(default, bool | int | float | str) and "<stage>" not in cell:
            assert _spellings(default) & set(re.findall(r"`([^`]+)`", cell)), (
                f"README's default for {key} ({cell.strip()}) does not show {default!r}")
