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
    """Put NuSeT_.jar (and example macros) into DIRECTORY/plugins and
    DIRECTORY/macros (a Fiji.app or ImageJ folder), and record this Python
    as the one the commands run, so the first OK works.

    The jar built with the package is used; without one (a source checkout)
    it is compiled against DIRECTORY's ImageJ, which needs a JDK."""
    from fiji_bridge.build import INSTALL_FILE, JAR_NAME, JAVA_DIR, build_jar, find_ij_jar, packaged_jar

    root = Path(directory)
    macros = sorted((JAVA_DIR.parent / "macros").glob("*.ijm"))
    targets = [root / "plugins" / JAR_NAME] + [root / "macros" / m.name for m in macros]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise click.ClickException(f"{existing[0]} exists; pass --overwrite to replace it")
    (root / "plugins").mkdir(exist_ok=True)
    jar = root / "plugins" / JAR_NAME
    shipped = packaged_jar()
    try:
        if shipped is not None:
            shutil.copyfile(shipped, jar)
        else:
            build_jar(find_ij_jar(root), root / "plugins")
    except (FileNotFoundError, RuntimeError) as exc:
        raise click.ClickException(f"{exc} (this NuSeT has no pre-built NuSeT_.jar: it was installed from "
                                   "source; a wheel carries one)") from exc
    # the Python the commands run, read by the plugin when neither the dialog nor a macro names one
    (root / "plugins" / INSTALL_FILE).write_text(f"# written by `nuset fiji install`\npython={_escape(sys.executable)}\n")
    (root / "macros").mkdir(exist_ok=True)
    for macro in macros:
        shutil.copyfile(macro, root / "macros" / macro.name)
    click.echo(f"installed {jar} ({'pre-built' if shipped else 'compiled'}) and {len(macros)} macros; restart "
               f"ImageJ/Fiji, then Plugins > NuSeT.\nThe commands run this Python: {sys.executable}")


def _escape(value: str) -> str:
    """A value for a Java .properties file (backslashes of Windows paths doubled)."""
    return value.replace("\\", "\\\\")
