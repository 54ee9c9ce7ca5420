"""The terminal every stage prints to, and how a table reaches a log file whole."""

from __future__ import annotations

from rich.console import Console
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
