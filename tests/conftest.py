"""Shared fixtures. Tests run offline: no hub downloads, no analytics."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "false"

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    """The example rebuild config, publishing into a temporary root."""
    text = (EXAMPLES / "rebuild.yaml").read_text()
    text = text.replace("output_root: ../out/example", f"output_root: {tmp_path / 'out'}")
    text = text.replace("path: data/", f"path: {EXAMPLES / 'data'}/")
    config = tmp_path / "rebuild.yaml"
    config.write_text(text)
    return config
