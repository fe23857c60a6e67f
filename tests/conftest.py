"""Shared fixtures. Tests run offline: no hub downloads, no analytics."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "false"

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _example(tmp_path: Path, stages: bool) -> Path:
    text = (EXAMPLES / "rebuild.yaml").read_text()
    text = text.replace("output_root: ../out/example", f"output_root: {tmp_path / 'out'}")
    text = text.replace("path: data/", f"path: {EXAMPLES / 'data'}/")
    if not stages:  # keep ingest, drop the model-driven stages
        text = text[:text.index("\n  embed:")] + "\n"
    config = tmp_path / "rebuild.yaml"
    config.write_text(text)
    return config


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    """The example rebuild config with ingest only, publishing into a temporary root."""
    return _example(tmp_path, stages=False)


@pytest.fixture
def full_example_config(tmp_path: Path) -> Path:
    """The whole example rebuild config (ingest, embed, prune) into a temporary root."""
    return _example(tmp_path, stages=True)
