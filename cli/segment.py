"""``nuset segment``: images in, label TIFFs out."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ._common import load_segmenter, segment_options, split_params

SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}


def _expand(inputs: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        else:
            files.append(path)
    return files


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
              help="Folder for the label images (default: next to each input).")
@click.option("--channel", type=int, default=None, help="Channel to segment in multi-channel images (0-based).")
@click.option("--overwrite", is_flag=True, help="Replace existing label images.")
@segment_options
def segment(inputs, output, channel, overwrite, model, device, **options) -> None:
    """Segment nuclei in INPUTS (image files or folders).

    Writes <name>_labels.tif (uint16 instance labels, 0 = background) per
    image and prints the nucleus count. A bad image is reported and skipped;
    the exit code is 1 when any image failed.
    """
    from nuset_engine.io import read_image, to_grayscale, write_labels

    params, _ = split_params(options)
    files = _expand(inputs)
    if not files:
        raise click.ClickException("no images found in the given inputs (TIFF, PNG or JPEG)")
    segmenter = load_segmenter(model, device)
    failed = 0
    for path in files:
        target = (Path(output) if output else path.parent) / f"{path.stem}_labels.tif"
        try:
            if target.exists() and not overwrite:
                raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
            t0 = time.perf_counter()
            image = to_grayscale(read_image(path), channel, source=str(path))
            labels = segmenter.segment(image, **params)
            write_labels(target, labels, overwrite=overwrite)
            n = int(labels.max())
            click.echo(f"{path}: {n} nuclei -> {target} ({time.perf_counter() - t0:.1f} s)")
        except (OSError, ValueError) as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
    if failed:
        click.echo(f"{failed} of {len(files)} images failed", err=True)
        sys.exit(1)
