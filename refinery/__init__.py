"""refinery's Python API, for schedulers and notebooks (an Airflow `PythonOperator`, a Jupyter
cell): the same rebuild as `refinery rebuild`, returning its summary instead of printing it.

    import refinery
    summary = refinery.rebuild("examples/rebuild.yaml", stage="prune",
                               beam_args=["--direct_num_workers", "2"])
    [row.dataset for row in summary if row.status == "published"]

Errors are exceptions, not exit codes: `ConfigError` (the config or a Beam flag is wrong; no work
started), `PlanError` (a stage cannot run with these inputs; nothing of it started), anything else
(the run failed; nothing of the failing stage was published).
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.config import RebuildConfig
    from pipelines.rebuild import PublishedDataset

__all__ = ["ConfigError", "PlanError", "rebuild"]


class ConfigError(ValueError):
    """The config or a Beam flag is wrong; no work started (the CLI's exit code 2)."""


def __getattr__(name: str):
    if name == "PlanError":  # imported on use: the stage registry imports Beam and torch
        from pipelines.stages.contract import PlanError

        return PlanError
    raise AttributeError(name)


def rebuild(config: "str | Path | RebuildConfig", stage: str | None = None,
            beam_args: Sequence[str] = (), verbose: bool = False) -> list["PublishedDataset"]:
    """Run a config's stages (or one) as `refinery rebuild` does and return what was published
    or found unchanged. Offline by default (`HF_HUB_OFFLINE`), progress logged through the
    `pipelines` and `transforms` loggers; the host's own logging setup is left alone."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pipelines.logging_setup import quiet_libraries

    quiet_libraries(verbose)
    if not logging.getLogger().handlers:  # a bare interpreter: show progress like the CLI
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s",
                            datefmt="%H:%M:%S")
    from pipelines import config as config_model
    from pipelines import rebuild as rebuilding
    from pipelines.runner import BeamFlagError, check_beam_args
    from pipelines.source_checks import check_sources, load_checked_config
    from pipelines.stages import STAGES

    if stage is not None and stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    try:
        check_beam_args(list(beam_args))
        if isinstance(config, str | Path):
            loaded = load_checked_config(config)
        else:
            loaded = config
            check_sources(loaded, "config")
    except (config_model.ConfigError, BeamFlagError) as error:
        raise ConfigError(str(error)) from None
    return rebuilding.rebuild(loaded, stage, list(beam_args))
