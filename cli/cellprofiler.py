"""``nuset cellprofiler``: where the RunNuSeT module lives, and installing it."""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import click


def plugin_file() -> Path:
    import cellprofiler_plugin

    return Path(cellprofiler_plugin.__file__).parent / "runnuset.py"


@click.group()
def cellprofiler() -> None:
    """Use NuSeT from CellProfiler (the RunNuSeT module)."""


@cellprofiler.command("plugin-dir")
def plugin_dir() -> None:
    """Print the folder to give CellProfiler as its plugins directory."""
    click.echo(plugin_file().parent)


@cellprofiler.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace a different runnuset.py already there.")
def install(directory, overwrite) -> None:
    """Copy the RunNuSeT module into DIRECTORY (an existing plugins folder)."""
    target = Path(directory) / "runnuset.py"
    if target.exists() and not filecmp.cmp(target, plugin_file(), shallow=False) and not overwrite:
        raise click.ClickException(f"{target} exists and differs; pass --overwrite to replace it")
    Path(directory).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plugin_file(), target)
    click.echo(f"installed {target}; set {Path(directory).resolve()} as CellProfiler's plugins directory")
