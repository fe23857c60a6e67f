"""Runtime settings from a config section: the one place a setting's value crosses from the YAML
model to the Beam-free settings a transform takes. It is in every stage's code version, since a
change here changes what every transform is given. Free of Beam."""

import dataclasses
from typing import Any, TypeVar

from pydantic import BaseModel

SettingsT = TypeVar("SettingsT")


def settings_from(section: BaseModel, settings: type[SettingsT], **runtime: Any) -> SettingsT:
    """A runtime settings dataclass filled from the config section's keys of the same names,
    and the `runtime` values (found while planning) for the rest: a setting and its default are
    declared once, in the config section. Lists become tuples (settings are frozen)."""
    values = {}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        if field.name in runtime:
            values[field.name] = runtime[field.name]
        elif field.name in type(section).model_fields:
            value = getattr(section, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return settings(**values)
