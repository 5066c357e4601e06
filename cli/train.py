"""``nuset train``."""
from __future__ import annotations

import click


@click.command(context_settings={"show_default": True})
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
@click.option("--labels", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of label images (instance or binary), same file names as the images.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Folder for checkpoints and the model.")
@click.option("--base-width", default=16, help="U-Net width at full resolution (the paper's is 64).")
@click.option("--width-multipliers", nargs=5, type=int, default=(1, 2, 4, 8, 16),
              help="Channels of the 4 encoder levels and the bottleneck, in multiples of --base-width "
                   "(the paper doubles per level; e.g. 1 2 6 12 24 widens only the cheap deep levels).")
@click.option("--epochs", type=click.IntRange(min=1), default=35)
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=200)
@click.option("--batch-size", type=click.IntRange(min=1), default=8)
@click.option("--crop-size", type=click.IntRange(min=32), default=256,
              help="Training crop side in pixels (a multiple of 16, at least 32).")
@click.option("--optimizer", type=click.Choice(["rmsprop", "adam"]), default="rmsprop")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-5, help="Learning rate.")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant")
@click.option("--synthetic-ratio", default=1.0, help="Synthetic images drawn per real image (0 disables).")
@click.option("--synthetic-images", default=200, help="Size of the synthetic image pool.")
@click.option("--normalization", type=click.Choice(["both", "foreground", "whole"]), default="both",
              help="Train for pass 2 (foreground), pass 1 (whole) or both with one weight set.")
@click.option("--distance/--no-distance", default=False,
              help="Also learn each nucleus' centre-distance map, which splits touching nuclei in the watershed.")
@click.option("--camera-augmentation/--no-camera-augmentation", default=False,
              help="Also imitate other microscopes: raised background, noise, uneven illumination.")
@click.option("--validation-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              help="Fraction of images held out by the id hash (both sides need images).")
@click.option("--max-validation-images", type=click.IntRange(min=1), default=None,
              help="Validate on at most this many images (default: all of the validation split).")
@click.option("--scale-min", type=click.FloatRange(min=0, min_open=True), default=0.5,
              help="Smallest scale augmentation factor.")
@click.option("--scale-max", type=click.FloatRange(min=0, min_open=True), default=2.0,
              help="Largest scale augmentation factor.")
@click.option("--matched-scale-fraction", type=click.FloatRange(0, 1), default=0.0,
              help="Fraction of crops scaled so their nuclei have the training nucleus size (x0.67-1.75), "
                   "the scale the segmenter resizes every image to; the rest use --scale-min/--scale-max.")
@click.option("--ema-decay", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              help="Validate and save an exponential moving average of the weights with this decay per step "
                   "(e.g. 0.998; 0 saves the weights as trained).")
@click.option("--seed", default=0)
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@click.option("--num-workers", default=0, help="Data-loading processes.")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last checkpoint.")
def train(resume: bool, **options) -> None:
    """Train a NuSeT model on image/label folders mixed with synthetic images.

    Writes OUTPUT/model.nuset.pt (best validation AP50), OUTPUT/last.ckpt
    (for --resume) and OUTPUT/history.jsonl.
    """
    from nuset_engine.train import TrainConfig, train as run_training

    try:
        path = run_training(TrainConfig(**options), resume=resume, log=lambda m: click.echo(m, err=True))
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"best model: {path}")
