"""Progress lines for long work inside a worker: rows done and rate, at most every few seconds."""

import logging
import time

LOG = logging.getLogger("transforms.progress")


class ProgressLog:
    """Counts work and logs `<what>: N done (R/s)` when `every_s` has passed since the last line."""

    def __init__(self, what: str, unit: str = "rows", every_s: float = 10.0) -> None:
        self._what = what
        self._unit = unit
        self._every_s = every_s
        self._started = self._last = time.monotonic()
        self.count = 0

    def add(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._log(now)

    def finish(self) -> None:
        self._log(time.monotonic())

    def _log(self, now: float) -> None:
        rate = self.count / max(now - self._started, 1e-9)
        LOG.info("%s: %s %s (%.0f %s/s)", self._what, f"{self.count:,}", self._unit, rate,
                 self._unit)
