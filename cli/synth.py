"""``nuset synth``: write a synthetic training set."""
from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("output", type=click.Path(file_okay=False))
@click.option("--count", "-n", default=100, help="Number of images.")
@click.option("--seed", default=0, help="Image i uses seed + i.")
def synth(output, count, seed) -> None:
    """Write COUNT synthetic images to OUTPUT/images and their labels to OUTPUT/labels."""
    import tifffile

    from nuset_engine.io import atomic_write
    from nuset_engine.synthetic import synthetic_image

    out = Path(output)
    with click.progressbar(range(count), label="synthesizing", file=sys.stderr) as bar:
        for i in bar:
            image, labels = synthetic_image(seed + i)
            for sub, array in (("images", image), ("labels", labels)):
                target = out / sub / f"synthetic_{seed + i:06d}.tif"
                atomic_write(target, lambda tmp, a=array: tifffile.imwrite(tmp, a, compression="zlib"))
    click.echo(f"wrote {count} images to {out / 'images'} and labels to {out / 'labels'}")
