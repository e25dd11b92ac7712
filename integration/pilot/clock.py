"""The accelerated clock: a working day of simulated minutes played in a few real seconds.

Only the people's idle time is compressed (a manager thinking, a warehouse between shipments); the platform
runs on the real clock, so every duration it measures itself (the KPIs, the journal) is real time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

WORKDAY_MINUTES = 9 * 60  # 09:00-18:00


@dataclass
class SimClock:
    day_seconds: float  # real seconds one simulated working day takes
    started: float = 0.0

    @property
    def minute(self) -> float:
        """Real seconds per simulated minute."""
        return self.day_seconds / WORKDAY_MINUTES

    def start_day(self) -> None:
        self.started = time.monotonic()

    def now_minute(self) -> float:
        return (time.monotonic() - self.started) / self.minute

    def sleep_until(self, minute: float) -> None:
        delay = self.started + minute * self.minute - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def real(self, minutes: float) -> float:
        return minutes * self.minute

    @staticmethod
    def label(minute: float) -> str:
        total = 9 * 60 + int(minute)
        return f"{total // 60:02d}:{total % 60:02d}"
