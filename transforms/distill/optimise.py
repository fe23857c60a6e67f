"""The KRR-ST optimisation loop: resume from the last checkpoint, step, checkpoint, report
progress. Free of Beam; the distill stage runs it on one worker."""

import logging
from collections.abc import Callable

from transforms.distill.checkpoints import CheckpointStore
from transforms.distill.krr_st import KrrStDistiller
from transforms.progress import StepProgress

LOG = logging.getLogger("transforms.distill")


def run_outer_steps(distiller: KrrStDistiller, sample_batch: Callable, store: CheckpointStore,
                    checkpoint_every: int, progress_every_s: float = 10.0) -> None:
    """Take outer steps until `distiller.config.steps`, resuming from `store` if it holds a
    checkpoint, saving one every `checkpoint_every` steps and at the end. With the same seed a
    resumed run takes exactly the steps an uninterrupted run would have taken."""
    total = distiller.config.steps
    state = store.latest()
    if state is not None:
        distiller.load_state_dict(state)
        LOG.info("distill: resumed from the checkpoint at step %d of %d", distiller.step, total)
    progress = StepProgress("distill:", total, distiller.step, progress_every_s)
    while distiller.step < total:
        loss = distiller.outer_step(sample_batch)
        if distiller.step % checkpoint_every == 0 or distiller.step == total:
            store.save(distiller.state_dict(), distiller.step)
        progress.step(distiller.step, loss)
