"""The `gdlab` command line: the only place that prints.

Every subcommand lives in a module of this package and is registered below. Errors become one
line on stderr and a non-zero exit code; `gdlab --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence

import click

from gdlab.cli._app import cli

# Each module adds its commands to `cli` when imported; heavy libraries are imported inside
# the commands so that `gdlab --help` stays quick.
COMMAND_MODULES = ("explain", "train_cmds", "descent_cmds", "data_cmds", "demo_cmds",
                   "bench_cmds", "playground_cmds", "network_cmds")
for _name in COMMAND_MODULES:
    importlib.import_module(f"gdlab.cli.{_name}")

__all__ = ["cli", "main"]

_TOKEN_CHARS = 160  # a longer run without spaces is data (a label, a cell), not a path
_MESSAGE_CHARS = 1000


def one_line(message: str) -> str:
    """`message` on one line of at most ~1,000 characters, each run of over 160 characters
    without a space cut to its start and length (messages quote values from files)."""
    from gdlab.core._validation import shorten

    words = [w if len(w) <= _TOKEN_CHARS else shorten(w, 80) for w in message.split()]
    text = " ".join(words)
    if len(text) > _MESSAGE_CHARS:
        text = f"{text[:_MESSAGE_CHARS - 40]}... ({len(text)} characters in all)"
    return text


def _json_requested(args: Sequence[str]) -> bool:
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _report(message: str, hint: str, *, as_json: bool) -> None:
    """One error line on stderr, or ``{"error": ..., "hint": ...}`` on stdout with --json."""
    if as_json:
        click.echo(json.dumps({"error": message, "hint": hint}))
    else:
        click.echo(f"gdlab: error: {message}" + (f" ({hint})" if hint else ""), err=True)


def _split_hint(message: str) -> tuple[str, str]:
    """gdlab's messages end with the fix after the last '; '; JSON carries it as the hint."""
    start = message.find(" (did you mean ")
    if start >= 0:
        end = message.index(")", start)
        return message[:start] + message[end + 1:], message[start + 2:end]
    head, sep, tail = message.rpartition("; ")
    return (head, tail.rstrip(".")) if sep and head else (message, "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (for tests) and exit with it from scripts."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    as_json = _json_requested(args)
    try:
        cli.main(args=args, prog_name="gdlab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("gdlab: aborted.", err=True)
        return 130
    except click.ClickException as exc:
        if debug:
            raise
        message = one_line(exc.format_message())
        if as_json:
            error, hint = _split_hint(message)
            _report(error, hint or "see --help for the valid values", as_json=True)
        else:
            _report(message, "", as_json=False)
        return exc.exit_code
    except (ValueError, TypeError, OSError, KeyError, RuntimeError, ArithmeticError) as exc:
        if debug:
            raise
        message = one_line(str(exc)) or type(exc).__name__
        if as_json:
            error, hint = _split_hint(message)
            _report(error, hint or "run with --debug for the traceback", as_json=True)
        else:
            _report(message, "run with --debug for the traceback", as_json=False)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
