"""``nuset fiji``: install the "NuSeT Segment" command into ImageJ or Fiji."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click


@click.group()
def fiji() -> None:
    """Use NuSeT from Fiji/ImageJ (the "NuSeT Segment" commands)."""


@fiji.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing NuSeT_.jar or macros.")
def install(directory, overwrite) -> None:
    """Build NuSeT_.jar against DIRECTORY's ImageJ and put it (and example
    macros) into DIRECTORY/plugins and DIRECTORY/macros (Fiji.app or ImageJ)."""
    from fiji_bridge.build import JAR_NAME, build_jar, find_ij_jar

    root = Path(directory)
    macros = sorted((Path(__file__).parents[1] / "fiji_bridge" / "macros").glob("*.ijm"))
    targets = [root / "plugins" / JAR_NAME] + [root / "macros" / m.name for m in macros]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{existing[0]} exists; pass --overwrite to replace it")
    try:
        jar = build_jar(find_ij_jar(root), root / "plugins")
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    (root / "macros").mkdir(exist_ok=True)
    for macro in macros:
        shutil.copyfile(macro, root / "macros" / macro.name)
    click.echo(f"installed {jar} and {len(macros)} macros; restart ImageJ/Fiji, then Plugins > NuSeT.\n"
               f"Python for the command (set once with python=... or in the dialog): {sys.executable}")
