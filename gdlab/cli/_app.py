"""The root click group that every command module attaches to."""

from __future__ import annotations

import click

from gdlab.cli._common import did_you_mean


class _Group(click.Group):
    """A group whose unknown-command error names the closest command."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple:
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            valid = ", ".join(sorted(self.list_commands(ctx)))
            raise click.UsageError(
                f"no command {name!r}{did_you_mean(name, self.list_commands(ctx))}; the "
                f"commands are: {valid} (gdlab --help describes them).", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=_Group, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.version_option(None, "-V", "--version", package_name="gdlab",
                      message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """gdlab: gradient descent, understandable and fast.

    Learners see every step of a descent; practitioners fit linear, logistic and softmax models
    with modern optimizers from Python or the command line.

    Shell completion (bash): eval "$(_GDLAB_COMPLETE=bash_source gdlab)"; zsh: zsh_source,
    fish: fish_source.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)
