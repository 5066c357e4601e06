"""``nuset``: segment, train, evaluate, synth, info, export."""
from __future__ import annotations

import click

from .cellprofiler import cellprofiler
from .evaluate import evaluate
from .export import export
from .fiji import fiji
from .info import info
from .segment import segment
from .synth import synth
from .train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="nuset")
def cli() -> None:
    """NuSeT nuclear segmentation (U-Net + RPN, RPN-aided watershed)."""


for command in (segment, train, evaluate, synth, info, cellprofiler, fiji, export):
    cli.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    cli()
