"""Small printing helpers shared by the commands."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on stdout; plain text (no colours, no box-drawing) when not a terminal."""
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


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """' (did you mean 'adam'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(value.lower(), [c.lower() for c in choices], n=1,
                                      cutoff=0.5)
    if not close:
        return ""
    by_lower = {c.lower(): c for c in choices}
    return f" (did you mean {by_lower[close[0]]!r}?)"


class SuggestChoice(click.Choice):
    """A case-insensitive choice whose error names the valid values and the closest one.

    ``aliases`` are accepted (e.g. class names of schedules) but not listed in the help.
    """

    def __init__(self, choices: Sequence[str], aliases: Sequence[str] = ()) -> None:
        super().__init__(list(choices), case_sensitive=False)
        self.aliases = {a.lower(): a for a in aliases}

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.lower() in self.aliases:
            return self.aliases[value.lower()]
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            valid = ", ".join(repr(c) for c in self.choices)
            self.fail(f"{value!r} is not one of {valid}{did_you_mean(str(value), self.choices)}.",
                      param, ctx)


def check_names(values: Sequence[str], choices: Sequence[str], param_hint: str) -> list[str]:
    """Each name of a comma-separated list must be a choice; exit 2 naming the bad one."""
    for v in values:
        if v.lower() not in [c.lower() for c in choices]:
            valid = ", ".join(repr(c) for c in choices)
            raise click.BadParameter(f"{v!r} is not one of {valid}{did_you_mean(v, choices)}.",
                                     param_hint=param_hint)
    return [v.lower() for v in values]


def optimizer_choice() -> SuggestChoice:
    """The optimizers' registered names."""
    from gdlab.core.optim import OPTIMIZERS

    return SuggestChoice(list(OPTIMIZERS))


def schedule_choice() -> SuggestChoice:
    """The schedules' registered names; class names such as 'CosineAnnealingLR' work too."""
    from gdlab.core.schedules import SCHEDULES

    # 'lambda' takes a Python function: there is no way to give one on the command line
    names = [k for k in SCHEDULES if k != "lambda"]
    return SuggestChoice(names, aliases=[SCHEDULES[k].__name__ for k in names])


def check_output(path: Path, suffixes: Sequence[str], option: str) -> None:
    """Refuse an output path before any work: wrong extension, pickle, missing or read-only
    directory, an existing directory of that name."""
    name = path.name.lower()
    if name.endswith((".pkl", ".pickle", ".joblib")):
        raise click.BadParameter(
            f"{str(path)!r}: gdlab writes model files as .npz (arrays + JSON), never pickle, "
            f"whose loading can run code; use {str(path.with_suffix('.npz'))!r}.",
            param_hint=option)
    if not name.endswith(tuple(suffixes)):
        got = path.suffix or "no extension"
        raise click.BadParameter(
            f"{str(path)!r} must end in {' or '.join(suffixes)}, got {got!r}; rename it.",
            param_hint=option)
    if path.is_dir():
        raise click.BadParameter(f"{str(path)!r} is a directory; give a file name.",
                                 param_hint=option)
    parent = path.parent
    if not parent.is_dir():
        raise click.BadParameter(
            f"the directory {str(parent)!r} of {str(path)!r} does not exist; create it first.",
            param_hint=option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise click.BadParameter(
            f"the directory {str(parent)!r} is not writable; choose another place.",
            param_hint=option)
