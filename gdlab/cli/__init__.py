"""The `gdlab` command line: the only place that prints.

Every subcommand lives in a module of this package and is registered below. Errors become one
line on stderr and a non-zero exit code; `gdlab --debug ...` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence

import click

from gdlab.cli._app import cli

# Each module adds its commands to `cli` when imported; heavy libraries are imported inside
# the commands so that `gdlab --help` stays quick.
COMMAND_MODULES = ("explain", "train_cmds", "descent_cmds", "data_cmds", "demo_cmds", "bench_cmds")
for _name in COMMAND_MODULES:
    importlib.import_module(f"gdlab.cli.{_name}")

__all__ = ["cli", "main"]


class _StderrNotes(logging.Handler):
    """``gdlab: <message>`` on the current sys.stderr (looked up at each record)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"gdlab: {record.getMessage()}\n")
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise
            self.handleError(record)


def _show_library_notes() -> None:
    """Print the library's INFO records (e.g. "compiling the fused kernels (once; ...)") on
    stderr: the library logs to the ``gdlab`` logger and never prints."""
    logger = logging.getLogger("gdlab")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes())
    logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (for tests) and exit with it from scripts."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _show_library_notes()
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
        click.echo(f"gdlab: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except (ValueError, TypeError, OSError, KeyError, RuntimeError, ArithmeticError) as exc:
        if debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(f"gdlab: error: {message} (run with --debug for the traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
