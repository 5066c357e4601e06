"""``nuset train``: from scratch, or fine-tuning a model (``--from``)."""
from __future__ import annotations

import sys

import click


#: nuset_engine.train.TRAINABLE_INPUTS (written out: the engine imports torch; a test checks they agree)
INPUTS = ["fluorescence", "brightfield", "hed", "rgb-inverted"]


def _words(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _default(name: str) -> str:
    """An option's default in words: the engine's, or each recipe's where they differ."""
    from nuset_engine.train import ARCHITECTURE, FINE_TUNING, TrainConfig

    scratch = _words(TrainConfig.__dataclass_fields__[name].default)
    if name in ARCHITECTURE or name in ("normalization", "input"):
        return f"{scratch} (the shipped model's); with --from: the parent's"
    if name in FINE_TUNING:
        return f"{scratch} (the shipped model's recipe); with --from: {_words(FINE_TUNING[name])} (fine-tuning)"
    return scratch


class _RecipeOption(click.Option):
    """A training option left ``None`` unless given, so that the engine's
    recipe (from scratch, or fine-tuning with --from) sets it. --help shows
    each recipe's default, read from the engine only when help is shown
    (the engine imports torch; `nuset --help` should not wait for it)."""

    def get_help_record(self, ctx):
        original = self.help
        self.help = f"{original or ''} [default: {_default(self.name)}]".strip()
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = original


def recipe_option(*decls, **kwargs):
    return click.option(*decls, cls=_RecipeOption, default=None, show_default=False, **kwargs)


@click.command(context_settings={"show_default": True})
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of training images.")
@click.option("--labels", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of label images (instance or binary), same file names as the images.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Folder for checkpoints and the model.")
@click.option("--from", "parent", default=None, metavar="default|MODEL_FILE",
              help="Fine-tune this model (`default`: the shipped one) on your images: start from its weights, keep "
                   "its architecture, normalization and nucleus size; the other defaults become the fine-tuning "
                   "recipe (short epochs of small crops, Adam 2e-4, no synthetic images, early stop). "
                   "3-20 annotated images and a few minutes on a CPU are enough to start.")
@recipe_option("--base-width", type=click.IntRange(min=1), help="U-Net width at full resolution (the paper's is 64).")
@recipe_option("--width-multipliers", nargs=5, type=int,
               help="Channels of the 4 encoder levels and the bottleneck, in multiples of --base-width "
                    "(the paper doubles per level; e.g. 1 2 6 12 24 widens only the cheap deep levels).")
@recipe_option("--epochs", type=click.IntRange(min=1), help="Epochs (with --minutes: at most this many).")
@recipe_option("--steps-per-epoch", type=click.IntRange(min=1), help="Training steps between validations.")
@recipe_option("--minutes", type=click.FloatRange(min=0, min_open=True),
               help="Time budget (training and validation): stop when it is spent; a cosine schedule then "
                    "decays over the time.")
@recipe_option("--patience", type=click.IntRange(min=0),
               help="Stop after this many epochs without a better validation AP50 (0: never stop early).")
@recipe_option("--batch-size", type=click.IntRange(min=1), help="Crops per step.")
@recipe_option("--crop-size", type=click.IntRange(min=32),
               help="Training crop side in pixels (a multiple of 16, at least 32).")
@recipe_option("--optimizer", type=click.Choice(["rmsprop", "adam"]))
@recipe_option("--lr", type=click.FloatRange(min=0, min_open=True), help="Learning rate.")
@recipe_option("--lr-schedule", type=click.Choice(["constant", "cosine"]),
               help="cosine: decay to 0 over the epochs (or over --minutes).")
@recipe_option("--synthetic-ratio", type=float, help="Synthetic images drawn per real image (0 disables).")
@recipe_option("--synthetic-images", type=int, help="Size of the synthetic image pool.")
@recipe_option("--normalization", type=click.Choice(["both", "foreground", "whole"]),
               help="Train for pass 2 (foreground), pass 1 (whole) or both with one weight set.")
@recipe_option("--distance/--no-distance",
               help="Also learn each nucleus' centre-distance map, which splits touching nuclei in the watershed.")
@recipe_option("--camera-augmentation/--no-camera-augmentation",
               help="Also imitate other microscopes: raised background, noise, uneven illumination.")
@recipe_option("--validation", type=click.Choice(["auto", "images", "strips"]),
               help="Validate on held-out images (the fixed id hash split) or on a held-out strip of every image "
                    "(its last quarter, not used for training); auto: strips when the split leaves fewer than 2 "
                    "validation or 5 training images.")
@recipe_option("--validation-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
               help="Fraction of images held out by the id hash.")
@recipe_option("--max-validation-images", type=click.IntRange(min=1),
               help="Validate on at most this many images (none: all).")
@recipe_option("--scale-min", type=click.FloatRange(min=0, min_open=True), help="Smallest scale augmentation factor.")
@recipe_option("--scale-max", type=click.FloatRange(min=0, min_open=True), help="Largest scale augmentation factor.")
@recipe_option("--matched-scale-fraction", type=click.FloatRange(0, 1),
               help="Fraction of crops scaled so their nuclei have the model's nucleus size (x0.67-1.75), "
                    "the scale the segmenter resizes every image to; the rest use --scale-min/--scale-max.")
@recipe_option("--ema-decay", type=click.FloatRange(0, 1, max_open=True),
               help="Validate and save an exponential moving average of the weights with this decay per step "
                    "(0 saves the weights as trained).")
@recipe_option("--input", type=click.Choice(INPUTS),
               help="The images the model will take: fluorescence (gray, nuclei bright), brightfield (gray, nuclei "
                    "dark: inverted), hed (RGB H&E: haematoxylin plane) or rgb-inverted (RGB H&E: inverted "
                    "luminance). Training images must be of that kind; the model file records it, and segmenting "
                    "then checks each image against it.")
@recipe_option("--tune-postprocessing/--no-tune-postprocessing",
               help="At the end, choose the model's min score and min size fraction on the validation images "
                    "(stored in the model file as its defaults).")
@recipe_option("--seed", type=int)
@recipe_option("--device", help="auto, cpu or cuda.")
@recipe_option("--num-workers", type=click.IntRange(min=0), help="Data-loading processes.")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last checkpoint.")
def train(resume: bool, parent: str | None, **options) -> None:
    """Train a NuSeT model on image/label folders, from scratch or fine-tuning one (--from).

    From scratch the defaults are the recipe that made the shipped model (a
    long run: about 2 hours on 2 CPU cores). With --from, the fine-tuning
    recipe: minutes on a CPU for a few images.

    Writes OUTPUT/model.nuset.pt (best validation AP50, with its own
    post-processing defaults), OUTPUT/last.ckpt (for --resume) and
    OUTPUT/history.jsonl.
    """
    from nuset_engine.train import ArchitectureMismatch, TrainConfig, train as run_training

    given = {k: v for k, v in options.items() if v is not None}
    try:
        if parent is None:
            config = TrainConfig(**given)
        else:
            config = TrainConfig.fine_tuning(parent, **given)
    except ArchitectureMismatch as exc:
        flag = "--" + exc.name.replace("_", "-")
        raise click.ClickException(
            f"{flag} {_words(exc.value)} contradicts the model given with --from ({exc.path} has "
            f"{_words(exc.parent_value)}): fine-tuning keeps the parent's architecture; leave {flag} out") from exc
    except ValueError as exc:  # a bad value, or a --from file that is not a model (ModelFileError)
        raise click.ClickException(str(exc)) from exc
    with _ProgressBar() as bar:
        try:
            path = run_training(config, resume=resume, log=bar.echo, progress=bar.update)
        except (FileExistsError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    _summary(path)


def _summary(path) -> None:
    from nuset_engine.model_io import load_model

    meta = load_model(path)[1]
    click.echo(f"best model: {path}")
    click.echo(f"  validation AP50 {meta['validation']['ap@0.50']:.3f} (epoch {meta['epoch']}), "
               f"{meta['validation_method']}")
    if "postprocessing" in meta:
        click.echo("  post-processing defaults: " + ", ".join(f"{k} {v:g}" for k, v in meta["postprocessing"].items()))
    click.echo(f"  {meta['minutes']:g} min, stopped: {meta['stopped']}")


class _ProgressBar:
    """A click progress bar on stderr (epoch, loss, validation AP50) with the
    engine's log lines printed above it; on a terminal only (click draws
    nothing elsewhere, and the log lines say the same)."""

    WIDTH = 1000  # the bar's units: thousandths of the run

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.bar = click.progressbar(length=self.WIDTH, file=sys.stderr, label="training", show_eta=True,
                                     show_percent=True, item_show_func=self.describe)

    def __enter__(self):
        if self.tty:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.tty:
            self.bar.__exit__(*exc)

    @staticmethod
    def describe(p) -> str | None:
        if p is None:
            return None
        text = f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}"
        if p.ap50 is not None:
            text += f" AP50 {p.ap50:.3f} (best {p.best_ap50:.3f}, epoch {p.best_epoch})"
        return text

    def update(self, p) -> None:
        if self.tty:
            self.bar.update(max(int(p.done * self.WIDTH) - self.bar.pos, 0), current_item=p)

    def echo(self, message: str) -> None:
        if self.tty:  # clear the bar's line, print, draw the bar again below
            click.echo("\r\033[K" + message, err=True)
            self.bar.render_progress()
        else:
            click.echo(message, err=True)
