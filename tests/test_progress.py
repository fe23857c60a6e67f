"""Progress lines say done/total, rate and ETA, timed from the first item."""

import logging

from transforms import progress
from transforms.progress import ProgressLog


def test_progress_gives_done_total_rate_and_eta_from_the_first_item(monkeypatch, caplog):
    clock = iter([0.0, 100.0, 110.0, 120.0])  # created at 0; work starts at 100
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    log = ProgressLog("embed", "texts encoded", every_s=10.0, total=300, bound=True)
    with caplog.at_level(logging.INFO, logger="transforms.progress"):
        log.add(50)   # t=100: the clock starts
        log.add(50)   # t=110: 100 done in 10 s
        log.finish()  # t=120
    assert caplog.messages == [
        "embed: 100/≤300 texts encoded (10 texts encoded/s, ETA ≤0m20s)",
        "embed: 100/≤300 texts encoded (5 texts encoded/s, ETA ≤0m40s)"]
