"""Progress of a sync: a bar on a terminal, periodic log lines otherwise."""

import logging
import shutil
import sys
import threading
import time
from typing import Any, Optional

from aeries_source.planning import Batch, SyncPlan

logger = logging.getLogger(__name__)


class SyncProgress:
    """Counts finished batches and records; shows a tqdm bar on a TTY, else logs every `period` s."""

    def __init__(self, use_bar: Optional[bool] = None, period: float = 10.0) -> None:
        self.use_bar = sys.stderr.isatty() if use_bar is None else use_bar
        self.period = period
        self.total = 0
        self.done = 0
        self.records = 0
        self._bar: Any = None
        self._last_log = 0.0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def start(self, plan: SyncPlan) -> None:
        """Begin counting the plan's batches."""
        self.total = len(plan.batches)
        self._started = time.monotonic()
        if self.use_bar and self.total:
            from tqdm import tqdm

            # Some ptys report a 0 x 0 screen, on which tqdm hides its bar: fall back to 100 x 24.
            size = shutil.get_terminal_size((100, 24))
            self._bar = tqdm(total=self.total, batch="batch", desc="attendance", file=sys.stderr,
                             ncols=size.columns or 100, nrows=size.lines or 24)

    def batch_done(self, batch: Batch, records: int) -> None:
        """Count one extracted batch (callback of the runtime)."""
        with self._lock:
            self.done += 1
            self.records += records
            if self._bar is not None:
                self._bar.update(1)
                self._bar.set_postfix(records=self.records)
                return
            now = time.monotonic()
            if now - self._last_log >= self.period or self.done == self.total:
                self._last_log = now
                rate = self.records / max(now - self._started, 1e-6)
                logger.info(
                    "progress: %d/%d batches, %d attendance records (%.0f records/s)",
                    self.done, self.total, self.records, rate,
                )

    def close(self) -> None:
        """Close the bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
