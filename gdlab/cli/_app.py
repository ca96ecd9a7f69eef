"""The root click group that every command module attaches to."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.version_option(package_name="gdlab")
def cli(debug: bool) -> None:
    """gdlab: gradient descent, understandable and fast.

    Learners see every step of a descent; practitioners fit linear, logistic and softmax models
    with modern optimizers from Python or the command line.
    """
