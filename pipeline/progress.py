"""One progress display with throughput and ETA, shared by every long command.

On a terminal it is a live rich bar; in logs (DVC, CI, pipes) it prints a
plain line at each tenth of the work (at most one every 5 s, and the last),
so long jobs still show progress without flooding the log.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RateColumn(TextColumn):
    """Items per second, with the unit named by the task (frames/s, samples/s)."""

    def __init__(self):
        super().__init__("")

    def render(self, task):
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        return f"{speed:.2f} {unit}/s" if speed else f"-- {unit}/s"


@contextmanager
def bar(description: str, total: int, unit: str):
    """Yields advance(n=1); writes to stderr so stdout stays clean for data."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield _log_lines(console, description, total, unit)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, console=console) as progress:
        task = progress.add_task(description, total=total, unit=unit)
        yield lambda n=1: progress.advance(task, n)


def _log_lines(console: Console, description: str, total: int, unit: str):
    start, done, step, last = time.perf_counter(), [0], max(1, total // 10), [0.0]

    def advance(n: int = 1) -> None:
        before = done[0]
        done[0] += n
        now = time.perf_counter()
        finished = done[0] >= total > before
        if finished or (done[0] // step > before // step and now - last[0] >= 5):
            last[0] = now
            rate = done[0] / max(now - start, 1e-9)
            eta = (total - done[0]) / rate if rate else 0
            console.print(f"{description}: {done[0]}/{total} {rate:.2f} {unit}/s ETA {eta:.0f}s", highlight=False)

    return advance
