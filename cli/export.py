"""``nuset export``: a model as ONNX, TorchScript or a bioimage.io package.
Parses and reports; the work is ``nuset_engine.export``."""
from __future__ import annotations

import click

from ._common import in_cli_terms

# nuset_engine.export.FORMATS (importing it would load torch for `nuset --help`);
# tests/cli/test_export.py checks that the two agree.
FORMATS = ("onnx", "torchscript", "bioimageio")
CONTENTS = {
    "onnx": "outputs maps, objectness, box_deltas; checked against PyTorch with onnxruntime",
    "torchscript": "outputs maps, objectness, box_deltas; checked against PyTorch",
    "bioimageio": "maps only, TorchScript and ONNX weights; passes bioimage.io's model test",
}


@click.command(context_settings={"show_default": True})
@click.argument("model", required=False, default=None, metavar="[MODEL]")
@click.option("--format", "format_", required=True, type=click.Choice(FORMATS),
              help="onnx: one .onnx file; torchscript: one .pt file (torch.jit); bioimageio: a bioimage.io model "
                   "package (.zip) for deepImageJ, QuPath, napari and bioimage.io tools.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The file to write (.onnx, .pt, or .zip for bioimageio).")
@click.option("--overwrite", is_flag=True, default=False, help="Replace OUTPUT if it exists.")
def export(model, format_, output, overwrite) -> None:
    """Export a model as ONNX, TorchScript or a bioimage.io package.

    MODEL is a model file from `nuset train` (default, or `default`: the
    shipped model). The exported network gives NuSeT's maps (foreground
    probability and, for models with the distance head, the centre distance),
    not labels: NuSeT's RPN-aided watershed stays in `nuset segment`. See
    docs/export.md.
    """
    from nuset_engine import ModelFileError
    from nuset_engine.export import ExportError, export_model

    click.echo(f"exporting {model or 'the shipped model'} to {format_} (verified after writing; up to a minute)",
               err=True)
    try:
        path = export_model(model, output, format_, overwrite=overwrite)
    except (ModelFileError, FileExistsError, ModuleNotFoundError, ValueError, ExportError) as exc:
        raise click.ClickException(in_cli_terms(exc)) from exc
    click.echo(f"wrote {path} ({CONTENTS[format_]})")
