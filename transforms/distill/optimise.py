"""The KRR-ST optimisation loop: resume from the last checkpoint, step, checkpoint, report
progress. Free of Beam; the distill stage runs it on one worker."""

import logging
import time
from collections.abc import Callable

from transforms.distill.checkpoints import CheckpointStore
from transforms.distill.krr_st import KrrStDistiller

LOG = logging.getLogger("transforms.distill")


def _eta(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


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
    first_step, started = distiller.step, time.monotonic()
    last_report = started
    while distiller.step < total:
        loss = distiller.outer_step(sample_batch)
        if distiller.step % checkpoint_every == 0 or distiller.step == total:
            store.save(distiller.state_dict(), distiller.step)
        now = time.monotonic()
        if now - last_report >= progress_every_s or distiller.step == total:
            last_report = now
            rate = (distiller.step - first_step) / max(now - started, 1e-9)
            LOG.info("distill: step %d/%d loss %.5f (%.2f steps/s, ETA %s)", distiller.step,
                     total, loss, rate, _eta((total - distiller.step) / max(rate, 1e-9)))
