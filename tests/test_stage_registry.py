"""The stage registry: embed asks the stages what they need vectors of, split by split."""

from pipelines.config import load_config
from pipelines.stages import STAGES, vector_reads
from pipelines.stages.contract import DatasetRead
from tests.conftest import EXAMPLES


def test_embed_embeds_only_the_splits_later_stages_read():
    config = load_config(EXAMPLES / "rebuild.yaml")
    # distill reads prune's output, whose texts are a subset of the prune source's train split
    assert vector_reads(config) == [
        DatasetRead("stages.prune.source", "catalogue", "train"),
        DatasetRead("stages.prune.target", "target", "train"),
        DatasetRead("stages.distill.source", "catalogue", "train")]
    assert STAGES["embed"].enabled(config)


def test_every_stage_declares_its_datasets_without_naming_another_stage():
    config = load_config(EXAMPLES / "rebuild.yaml")
    published = [name for stage in STAGES.values() for name in stage.publishes(config)]
    assert len(published) == len(set(published)) == 14
    for stage in STAGES.values():
        assert stage.name and stage.kinds and stage.code_module.startswith("pipelines.stages.")
