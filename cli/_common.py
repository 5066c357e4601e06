"""Options and helpers shared by the commands: the segmentation parameters
carry the same names as the keyword arguments of ``Segmenter.segment``."""
from __future__ import annotations

import click

from nuset_engine.errors import ImageTooLargeError, OutputClashError, OutputExistsError
from nuset_engine.options import BACKENDS, SEGMENT_OPTIONS, Option, OptionError, option

class TileSize(click.ParamType):
    """``auto``, 0 (whole images) or a side in pixels large enough for the
    tiles' margins: a size the engine would refuse for every image is
    refused here, before any work."""

    name = "auto|0|PIXELS"

    def convert(self, value, param, ctx):
        try:
            return option("tile_size").parse(str(value))
        except OptionError as exc:
            self.fail(str(exc), param, ctx)


# What the command line adds to an option's help: how the batch runs it.
CLI_NOTES = {"tile_size": "Large TIFFs are streamed and their labels written as tiled TIFF."}


def _whole(number):
    return int(number) if number is not None and float(number).is_integer() else number


def click_option(entry: Option):
    """The click option of one table entry: ``--min-score`` with its type,
    range, default and help (the default's meaning when it is ``None``)."""
    help_text = " ".join(filter(None, (entry.help, CLI_NOTES.get(entry.name))))
    shown = {"show_default": entry.default_means} if entry.default is None else {}
    low, high = _whole(entry.minimum), _whole(entry.maximum)
    if entry.kind == "flag":
        return click.option(f"{entry.flag}/--no-{entry.flag[2:]}", default=entry.default, help=help_text, **shown)
    if entry.kind == "number":
        kind = click.FloatRange(low, high, min_open=entry.min_open)
    elif entry.kind == "integer":
        kind = click.IntRange(low, high, min_open=entry.min_open)
    elif entry.kind == "tile_size":
        kind = TileSize()
    else:  # folder
        kind = click.Path(exists=True, file_okay=False)
    if entry.unit and entry.kind != "tile_size":
        kind.name = entry.unit.upper()
    return click.option(entry.flag, type=kind, default=entry.default, help=help_text, **shown)


#: The engine's options the command line offers, in the table's order.
PARAM_NAMES = tuple(o.name for o in SEGMENT_OPTIONS if "cli" in o.hosts)

SEGMENT_OPTIONS_CLI = [
    click.option("--model", type=click.Path(dir_okay=False), default=None,
                 help="Model file from `nuset train` (default: the shipped model)."),
    click.option("--device", default="auto", help="auto, cpu or cuda."),
    click.option("--backend", type=click.Choice(BACKENDS), default="auto",
                 help="How the network runs: f32 (reference), bf16 (bfloat16; fast on CPUs with AVX512-BF16 or "
                      "AMX), auto (bf16 only where it was measured equivalent to f32 on such a CPU)."),
    *(click_option(o) for o in SEGMENT_OPTIONS if o.name in PARAM_NAMES),
]


def segment_options(func):
    for decorator in reversed(SEGMENT_OPTIONS_CLI):
        func = decorator(func)
    return func


def input_option(name: str):
    """A click option for one of the table's input options (``channel``)."""
    return click_option(option(name))


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


def in_cli_terms(exc: BaseException) -> str:
    """An engine error's message as the command line says it: the engine's
    typed errors name their fix in the Python API's terms (``overwrite=True``,
    ``tile_size=2048``); here they name the flags (``--overwrite``,
    ``--tile-size 2048``). Other errors keep their message.

    Module-level, so that Dask workers can run it (``run_batch(phrase=...)``)."""
    if isinstance(exc, OutputExistsError):
        return exc.phrase(overwrite="--overwrite", resume="--resume")
    if isinstance(exc, ImageTooLargeError):
        return exc.phrase(tile_size="--tile-size {}")
    if isinstance(exc, OutputClashError):
        return exc.phrase(output="--output")
    return str(exc)


def load_segmenter(model, device, backend="auto"):
    from nuset_engine import ModelFileError, Segmenter

    try:
        return Segmenter.load(model, device=device, backend=backend)
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
