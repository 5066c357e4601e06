"""Options and helpers shared by the commands: the segmentation parameters
carry the same names as the keyword arguments of ``Segmenter.segment``."""
from __future__ import annotations

import click

class TileSize(click.ParamType):
    """``auto``, 0 (whole images) or a side in pixels large enough for the
    tiles' margins: a size the engine would refuse for every image is
    refused here, before any work."""

    name = "auto|0|PIXELS"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is not 'auto', 0 (whole images) or a number of pixels", param, ctx)
        from nuset_engine.tiling import MIN_TILE_SIZE

        if number < 0 or 0 < number < MIN_TILE_SIZE:
            self.fail(f"{number} is too small; tiles need at least {MIN_TILE_SIZE} pixels (1024-2048 work well), "
                      "or 0 for whole images, or auto", param, ctx)
        return number


SEGMENT_OPTIONS = [
    click.option("--model", type=click.Path(dir_okay=False), default=None,
                 help="Model file from `nuset train` (default: the shipped model)."),
    click.option("--device", default="auto", help="auto, cpu or cuda."),
    click.option("--min-score", type=click.FloatRange(0, 1), default=0.85, help="Minimum RPN box score (0-1) to seed the watershed."),
    click.option("--nms-threshold", type=click.FloatRange(0, 1), default=0.3, help="IoU above which overlapping proposals are suppressed."),
    click.option("--watershed/--no-watershed", default=True, help="RPN-aided watershed to split touching nuclei."),
    click.option("--two-pass/--no-two-pass", default=None,
                 help="Second pass with foreground normalization (default: as the model was trained)."),
    click.option("--min-size-fraction", type=click.FloatRange(min=0), default=0.2,
                 help="Remove objects smaller than this fraction of the mean nucleus area."),
    click.option("--nucleus-diameter", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Typical nucleus diameter in pixels (default: estimated from the image)."),
    click.option("--tile-size", type=TileSize(), default="auto", show_default=True,
                 help="Segment large images in overlapping tiles of this many pixels, labels merged across seams "
                      "(bounds memory; large TIFFs are streamed, labels written as tiled TIFF). auto: tiles of "
                      "2048 for images over 2048x2048 pixels. 0: whole images."),
    click.option("--augment/--no-augment", default=False,
                 help="Test-time augmentation: average the final pass over the image's 8 flips and transposes "
                      "(2.5-4x slower; a little more accurate)."),
]

PARAM_NAMES = ("min_score", "nms_threshold", "watershed", "two_pass", "min_size_fraction", "nucleus_diameter",
               "tile_size", "augment")


def segment_options(func):
    for option in reversed(SEGMENT_OPTIONS):
        func = option(func)
    return func


def split_params(options: dict) -> tuple[dict, dict]:
    """(engine parameters, the rest)."""
    params = {k: options.pop(k) for k in PARAM_NAMES}
    return params, options


def load_config(ctx: click.Context, param, value):
    """``--config params.toml``: its keys (option names, - or _) become option defaults."""
    if not value:
        return value
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(value, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{value}: {exc}") from exc
    names = {p.name for p in ctx.command.params}
    config = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(config) - names)
    if unknown:
        raise click.BadParameter(f"{value}: unknown option(s) {', '.join(unknown)}")
    ctx.default_map = {**(ctx.default_map or {}), **config}
    return value


def load_segmenter(model, device):
    from nuset_engine import ModelFileError, Segmenter

    try:
        return Segmenter.load(model, device=device)
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
