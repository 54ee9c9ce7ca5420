"""The terminal every stage prints to, how a table reaches a log file whole, and the one progress
display each long stage shows."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console()


def show(table: Table) -> None:
    """Print ``table``: fitted to the terminal, or at its natural width when output goes to a file,
    so a log keeps every column on one line instead of an 80-column fold of it."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Console(width=1000).measure(table).maximum
    Console(width=max(80, natural)).print(table)


class Meter:
    """A stage's progress: a live bar with counts and an ETA on a terminal; in a log, a line at
    every twentieth of the way instead (a redirected log gets no bar redraws)."""

    def __init__(self, label: str, total: int, unit: str = "batches", note: str = ""):
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.note = note
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn(unit + " {task.fields[note]}"), TimeElapsedColumn(),
                                  TextColumn("ETA"), TimeRemainingColumn(), console=console,
                                  disable=not console.is_terminal)
        self._task = self._progress.add_task(label, total=total, note=note)

    def __enter__(self) -> Meter:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def advance(self, n: int = 1, note: str | None = None) -> None:
        before = self.done
        self.done += n
        if note is not None:
            self.note = note
        self._progress.update(self._task, advance=n, note=self.note)
        step = max(1, self.total // 20)
        if not console.is_terminal and (self.done // step > before // step or self.done == self.total):
            elapsed = self._progress.tasks[0].elapsed or 0.0
            eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
            console.print(f"{self.label}: {self.done}/{self.total} {self.unit} {self.note}".rstrip()
                          + f", {elapsed:.0f}s elapsed, ETA {eta:.0f}s", soft_wrap=True)
