"""One rich progress bar with throughput and ETA, shared by every long command."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


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
    """Yields advance(n=1); prints to stderr so stdout stays clean for data."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total, unit=unit)
        yield lambda n=1: progress.advance(task, n)
