"""A progress bar for long fits, as a training-loop callback.

It draws on stderr with rich only when stderr is a terminal; otherwise (pipes, CI, notebooks
capturing output) it stays silent, so logs are never flooded with bar redraws.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class EpochProgress:
    """Callback ``(state, record) -> None`` advancing a bar by one epoch, showing the loss."""

    def __init__(self, total: int, description: str = "fit", console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal
        self._progress: Progress | None = None
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(),
                TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                console=self.console, transient=False,
            )
            self._task = self._progress.add_task(description, total=total, loss="-")
            self._progress.start()

    def __call__(self, state: Any, record: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=record.epoch + 1,
                                  loss=f"{record.loss:.6g}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
