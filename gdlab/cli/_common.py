"""Small printing helpers shared by the commands."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on stdout; plain text (no colours, no box-drawing) when not a terminal."""
    from rich import box  # rich takes ~0.1-0.3 s to import: only commands that print tables
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # pipes and files: never wrap cells
    table = Table(title=title, box=box.SIMPLE if console.is_terminal else None,
                  header_style="bold" if console.is_terminal else "")
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if i < 2 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console.print(table)
