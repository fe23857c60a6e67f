"""Shared fixtures. Tests run offline: no hub downloads, no analytics."""

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GX_ANALYTICS_ENABLED"] = "false"

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def example_config_through(tmp_path: Path, last_stage: str) -> Path:
    """The example config into `tmp_path`, with the stages after `last_stage` removed."""
    text = (EXAMPLES / "rebuild.yaml").read_text()
    text = text.replace("output_root: ../out/example", f"output_root: {tmp_path / 'out'}")
    text = text.replace("path: data/", f"path: {EXAMPLES / 'data'}/")
    following = {"ingest": "embed", "prune": "distill", "distill": "qgen"}.get(last_stage)
    if following:
        text = text[:text.index(f"\n  {following}:")] + "\n"
    config = tmp_path / "rebuild.yaml"
    config.write_text(text)
    return config


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    """The example rebuild config with ingest only, publishing into a temporary root."""
    return example_config_through(tmp_path, "ingest")


@pytest.fixture
def prune_example_config(tmp_path: Path) -> Path:
    """The example rebuild config up to the prune stage (ingest, embed, prune)."""
    return example_config_through(tmp_path, "prune")


@pytest.fixture
def full_example_config(tmp_path: Path) -> Path:
    """The example rebuild config up to distill (the example's qgen trains a real generator,
    which the qgen tests replace by tiny models) into a temporary root."""
    return example_config_through(tmp_path, "distill")


@pytest.fixture(scope="module")
def pruned_example(tmp_path_factory) -> Path:
    """One published ingest -> embed -> prune chain (a module shares it) and its config, for
    cases that only plan the distill stage against it."""
    from pipelines.cli import main

    folder = tmp_path_factory.mktemp("pruned_example")
    config = example_config_through(folder, "distill")
    assert main(["rebuild", str(config), "--stage", "ingest"]) == 0
    assert main(["rebuild", str(config), "--stage", "embed"]) == 0
    assert main(["rebuild", str(config), "--stage", "prune"]) == 0
    return config
