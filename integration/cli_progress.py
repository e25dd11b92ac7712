"""Progress of a management command: a tqdm bar on a terminal, plain lines otherwise (CI logs, pipes, cron).

`bar = progress_bar("catalog/moysklad", stream)` is a `progress(done, total=None)` callback; `bar.close()` ends
the line. Plain lines come every PLAIN_EVERY seconds and at the end, so a log is neither flooded nor silent.
"""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

PLAIN_EVERY = 5.0


class TerminalBar:
    def __init__(self, label: str, stream: TextIO):
        self.bar = tqdm(desc=label, file=stream, total=None, unit=" rec", dynamic_ncols=True, leave=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class PlainLines:
    """`catalog/moysklad: 512/1000 (51%), 170 rec/s, 3.0 s` — one line now and then, and a last one."""

    def __init__(self, label: str, stream: TextIO, every: float = PLAIN_EVERY):
        self.label, self.stream, self.every = label, stream, every
        self.started = time.monotonic()
        self.last_line = self.started
        self.done: int | None = None
        self.total: int | None = None
        self.written: tuple | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done, self.total = done, total if total is not None else self.total
        if time.monotonic() - self.last_line >= self.every:
            self._write()

    def _write(self) -> None:
        if self.done is None or self.written == (self.done, self.total):
            return
        elapsed = time.monotonic() - self.started
        count = f"{self.done}/{self.total} ({100 * self.done // self.total}%)" if self.total else f"{self.done}"
        rate = f", {self.done / elapsed:.0f} rec/s" if elapsed > 0 and self.done else ""
        self.stream.write(f"{self.label}: {count}{rate}, {elapsed:.1f} s\n")
        self.stream.flush()
        self.last_line = time.monotonic()
        self.written = (self.done, self.total)

    def close(self) -> None:
        self._write()


def progress_bar(label: str, stream: TextIO) -> TerminalBar | PlainLines:
    isatty = getattr(stream, "isatty", None)
    return TerminalBar(label, stream) if isatty is not None and isatty() else PlainLines(label, stream)
