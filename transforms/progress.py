"""Progress lines for long work inside a worker: rows done and rate, or optimisation steps with
loss and ETA, at most every few seconds."""

import logging
import time

LOG = logging.getLogger("transforms.progress")


class ProgressLog:
    """Counts work and logs `<what>: N/total unit (R unit/s, ETA …)` when `every_s` has passed
    since the last line. The clock starts at the first item, so time spent waiting before the
    work (a model load, the previous step) does not lower the rate. `total` may be an upper
    bound (`bound=True`: e.g. texts to encode, before the ones already embedded are known)."""

    def __init__(self, what: str, unit: str = "rows", every_s: float = 10.0,
                 total: int | None = None, bound: bool = False) -> None:
        self._what = what
        self._unit = unit
        self._every_s = every_s
        self._total = total
        self._bound = bound
        self._started: float | None = None
        self._last = time.monotonic()
        self.count = 0

    def add(self, n: int = 1) -> None:
        now = time.monotonic()
        if self._started is None:
            self._started = self._last = now
        self.count += n
        if now - self._last >= self._every_s:
            self._last = now
            self._log(now)

    def finish(self) -> None:
        if self.count:
            self._log(time.monotonic())

    def _log(self, now: float) -> None:
        rate = self.count / max(now - (self._started or now), 1e-9)
        done = f"{self.count:,}"
        if self._total is None:
            LOG.info("%s: %s %s (%.0f %s/s)", self._what, done, self._unit, rate, self._unit)
            return
        at_most = "≤" if self._bound else ""
        left = max(self._total - self.count, 0) / max(rate, 1e-9)
        LOG.info("%s: %s/%s%s %s (%.0f %s/s, ETA %s%s)", self._what, done, at_most,
                 f"{self._total:,}", self._unit, rate, self._unit, at_most, eta(left))


def eta(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class StepProgress:
    """Logs `<what> step N/total loss L (R steps/s, ETA …)` when `every_s` has passed since the
    last line, and at the last step. `first_step` > 0 for a resumed run: the rate counts only the
    steps taken since."""

    def __init__(self, what: str, total: int, first_step: int = 0, every_s: float = 10.0) -> None:
        self._what = what
        self._total = total
        self._first_step = first_step
        self._every_s = every_s
        self._started = self._last = time.monotonic()

    def step(self, step: int, loss: float) -> None:
        now = time.monotonic()
        if now - self._last < self._every_s and step != self._total:
            return
        self._last = now
        rate = (step - self._first_step) / max(now - self._started, 1e-9)
        LOG.info("%s step %d/%d loss %.5f (%.2f steps/s, ETA %s)", self._what, step, self._total,
                 loss, rate, eta((self._total - step) / max(rate, 1e-9)))
