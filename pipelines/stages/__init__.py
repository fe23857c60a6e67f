"""The stage registry: one module per stage (a `Stage` that plans its output versions and adds
its transforms to a pipeline), listed here in run order. Adding a stage adds one line here."""

from pipelines.config import RebuildConfig
from pipelines.stages import distill, embed, ingest, prune, qgen, qgen_filter
from pipelines.stages.contract import DatasetRead, Stage

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    ingest.STAGE, embed.STAGE, prune.STAGE, distill.STAGE, qgen.STAGE, qgen_filter.STAGE)}


def vector_reads(config: RebuildConfig) -> list[DatasetRead]:
    """The datasets whose texts enabled stages need vectors of. A dataset that a stage publishes
    as a subset of another's texts is covered by that other one, which is published first."""
    subsets = {name: source for stage in STAGES.values()
               for name, source in stage.text_sources(config).items()}
    reads = []
    for stage in STAGES.values():
        for read in stage.vector_reads(config):
            seen = {read.dataset}
            while read.dataset in subsets and subsets[read.dataset].dataset not in seen:
                source = subsets[read.dataset]  # (a cycle is a config error found later)
                read = DatasetRead(read.key, source.dataset, source.split)
                seen.add(read.dataset)
            reads.append(read)
    return reads
