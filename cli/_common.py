"""Options and helpers shared by the commands: the segmentation parameters
carry the same names as the keyword arguments of ``Segmenter.segment``."""
from __future__ import annotations

import click

SEGMENT_OPTIONS = [
    click.option("--model", type=click.Path(dir_okay=False), default=None,
                 help="Model file from `nuset train` (default: the shipped model)."),
    click.option("--device", default="auto", help="auto, cpu or cuda."),
    click.option("--min-score", default=0.85, help="Minimum RPN box score (0-1) to seed the watershed."),
    click.option("--nms-threshold", default=0.1, help="IoU above which overlapping proposals are suppressed."),
    click.option("--watershed/--no-watershed", default=True, help="RPN-aided watershed to split touching nuclei."),
    click.option("--two-pass/--no-two-pass", default=True, help="Second pass with foreground normalization."),
    click.option("--min-size-fraction", default=0.2,
                 help="Remove objects smaller than this fraction of the mean nucleus area."),
    click.option("--nucleus-diameter", type=float, default=None,
                 help="Typical nucleus diameter in pixels (default: estimated from the image)."),
]

PARAM_NAMES = ("min_score", "nms_threshold", "watershed", "two_pass", "min_size_fraction", "nucleus_diameter")


def segment_options(func):
    for option in reversed(SEGMENT_OPTIONS):
        func = option(func)
    return func


def split_params(options: dict) -> tuple[dict, dict]:
    """(engine parameters, the rest)."""
    params = {k: options.pop(k) for k in PARAM_NAMES}
    return params, options


def load_segmenter(model, device):
    from nuset_engine import ModelFileError, Segmenter

    try:
        return Segmenter.load(model, device=device)
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
