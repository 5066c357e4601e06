"""The segmentation options, declared once for the engine and every wrapper.

Each field of :class:`SegmentOptions` is one option: its name is the keyword
of :meth:`Segmenter.segment <nuset_engine.segmenter.Segmenter.segment>`, the
ImageJ macro key and, with dashes, the command-line flag (``--min-score``).
Its :class:`Option` entry holds the type, default, allowed range, unit and
help text. From this table

- the command line builds its click options (``cli/_common.py``);
- the Fiji plugin's dialog fields and macro keys are generated when its jar
  is built (``fiji_bridge/build.py``);
- the pyimagej function and ``Segmenter.segment`` take them as keyword
  arguments, checked here;
- the CellProfiler module, whose settings are widgets saved by position in
  pipelines, keeps its own and a test checks them against this table.

Adding an option is one field here (and the code that uses it); a wrapper
changes only where it needs a special widget. This module imports nothing
heavy (no torch, no numpy), so ``nuset --help`` and the CellProfiler module
can read it cheaply.
"""
from __future__ import annotations

import math
import os
import textwrap
from dataclasses import dataclass, field, fields

__all__ = ["Option", "OptionError", "SegmentOptions", "SEGMENT_OPTIONS", "INPUT_OPTIONS", "TRACK_OPTIONS",
           "OPTIONS", "HOSTS",
           "option", "options_from", "AUTO_TILE_SIZE", "MIN_TILE_SIZE", "DEFAULT_MARGIN", "MIN_CORE"]

#: Where an option can be set: the click CLI, the CellProfiler module, the
#: Fiji command (dialog and macro) and the pyimagej function.
HOSTS = ("cli", "cellprofiler", "fiji", "pyimagej")

DEFAULT_MARGIN = 64  # pixels of context (network scale) around each tile's core
MIN_CORE = 64  # smallest core side (network scale), however large the margin must be
MIN_TILE_SIZE = 2 * DEFAULT_MARGIN + MIN_CORE  # a core and its margins on both sides
# tile_size="auto": images of more pixels than a square of this side are
# segmented in tiles of this side. Whole-image inference costs ~0.24 GB per
# megapixel (21 GB at 100 MP) and gets slower per pixel above a few
# megapixels; at this size tiles are as fast and memory stays near 2 GB
# (docs/benchmarks.md, "Automatic tiling").
AUTO_TILE_SIZE = 2048
#: The post-processing defaults of a model file that carries none of its own
#: (files written before models chose theirs on their validation images):
#: the values chosen for the shipped model on the validation split.
MODEL_FALLBACKS = {"min_score": 0.85, "min_size_fraction": 0.2}

#: How the network may run (see nuset_engine.backends): auto (the fastest
#: measured equivalent to float32 on this machine), float32, bfloat16, or
#: OpenVINO (an optional extra).
BACKENDS = ("auto", "f32", "bf16", "openvino")

_KINDS = ("number", "integer", "flag", "tile_size", "folder")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class OptionError(ValueError):
    """A value an option does not allow; the message names the option, the
    value and what is allowed. ``option`` is the option's name."""

    def __init__(self, option: str, message: str):
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Option:
    """One segmentation option.

    Attributes
    ----------
    name : keyword argument, ImageJ macro key, and (``-`` for ``_``) CLI flag.
    kind : ``number`` (float), ``integer``, ``flag`` (bool), ``tile_size``
        (``"auto"``, 0 or pixels) or ``folder`` (an existing directory).
    default : the value when none is given; ``None`` means ``default_means``.
    help : one or two sentences for a help text, a tooltip or a dialog.
    note : a few words shown beside the option's field in a compact dialog.
    minimum, maximum : allowed range (inclusive unless ``min_open``).
    unit : of the value (``pixels``), for labels and help.
    default_means : what a ``None`` default does (``as the model was trained``).
    choices : for a flag whose default is ``None``: its three states as
        ``(word, value)`` pairs, for hosts that show a choice (the Fiji
        dialog), default first.
    macro_key : the ImageJ macro key when it is not ``name`` (kept from
        earlier releases so recorded macros keep working).
    hosts : the wrappers that offer the option (see :data:`HOSTS`).
    """

    name: str
    kind: str
    default: object
    help: str
    note: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    unit: str = ""
    default_means: str = ""
    choices: tuple = ()
    macro_key: str = ""
    hosts: tuple = HOSTS

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")
        if self.default is None and not self.default_means:
            raise ValueError(f"option {self.name}: a None default needs default_means")

    @property
    def flag(self) -> str:
        """The command-line flag: ``--min-score``."""
        return "--" + self.name.replace("_", "-")

    @property
    def zero_means_default(self) -> bool:
        """Whether 0 stands for "none given" in hosts whose fields hold a
        number (a dialog, a CellProfiler setting): for a ``None`` default
        where 0 itself is not allowed (``nucleus_diameter``). Elsewhere an
        empty field means the default."""
        return self.default is None and self.kind in ("number", "integer") and self.minimum == 0 and self.min_open

    @property
    def key(self) -> str:
        """The ImageJ macro key and dialog label."""
        return self.macro_key or self.name

    def describe_range(self) -> str:
        """The allowed values in words: ``between 0 and 1``, ``more than 0 pixels``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "tile_size":
            return f"at least {MIN_TILE_SIZE} pixels (1024-2048 work well), 0 for whole images, or 'auto'"
        if self.minimum is not None and self.maximum is not None:
            return f"between {self.minimum:g} and {self.maximum:g}{unit}"
        if self.minimum is not None:
            return f"more than {self.minimum:g}{unit}" if self.min_open else f"{self.minimum:g}{unit} or more"
        return ""

    def check(self, value):
        """``value`` as the engine uses it, or :class:`OptionError` saying what is allowed."""
        if value is None and self.default is None:
            return None
        kind = self.kind
        if kind == "flag":
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                return bool(value)
            self._fail(value, "True or False" + (f" or None ({self.default_means})" if self.default is None else ""))
        if kind == "tile_size":
            return self._tile_size(value)
        if kind == "folder":
            if isinstance(value, (str, os.PathLike)) and os.path.isdir(value):
                return os.fspath(value)
            self._fail(value, "an existing folder")
        # number, integer
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._fail(value, f"a number {self.describe_range()}".strip())
        if not math.isfinite(value):
            self._fail(value, self.describe_range() or "a finite number")
        if kind == "integer":
            if int(value) != value:
                self._fail(value, "a whole number")
            value = int(value)
        else:
            value = float(value)
        low, high = self.minimum, self.maximum
        too_low = low is not None and (value < low or (self.min_open and value == low))
        if too_low or (high is not None and value > high):
            self._fail(value, self.describe_range())
        return value

    def parse(self, text: str):
        """A value typed as text (a macro, a dialog, a config file), checked.

        Numbers as decimals; flags as true/false (yes/no, on/off, 1/0) or, for
        a three-state flag, its :attr:`choices` words; an empty text is the
        default.
        """
        text = str(text).strip()
        if not text:
            return self.default
        if self.kind == "flag":
            words = {word: value for word, value in self.choices}
            lower = text.lower()
            if lower in words:
                return words[lower]
            if lower in _TRUE or lower in _FALSE:
                return lower in _TRUE
            allowed = ", ".join(words) if words else "true or false"
            raise OptionError(self.name, f"{self.name}={text!r}: use {allowed}")
        if self.kind in ("number", "integer"):
            try:
                number = float(text)
            except ValueError:
                raise OptionError(self.name, f"{self.name}={text!r} is not a number") from None
            if self.zero_means_default and number == 0:  # 0 stands for "none given" where 0 is not allowed
                return None
            return self.check(number)
        if self.kind == "tile_size":
            lower = text.lower()
            if lower != "auto":
                try:
                    number = float(lower)
                except ValueError:
                    raise OptionError(self.name, f"{text!r} is not 'auto', 0 (whole images) or a number of "
                                                 "pixels") from None
                lower = number
            return self.check(lower)
        return self.check(text)

    def _tile_size(self, value):
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            self._fail(value, self.describe_range())
        value = int(value)
        if value < 0 or 0 < value < MIN_TILE_SIZE:
            self._fail(value, self.describe_range())
        return value

    def _fail(self, value, allowed: str):
        raise OptionError(self.name, f"{self.name} must be {allowed}, got {value!r}")


def _option(default, help: str, kind: str, **entry):
    """A :class:`SegmentOptions` field: its default and its table entry (named after the field)."""
    return field(default=default, metadata={"option": dict(kind=kind, help=help, **entry)})


@dataclass(frozen=True)
class SegmentOptions:
    """The options of one segmentation, checked when made.

    ``SegmentOptions(min_score=0.9)``; an unknown name raises ``TypeError``
    and a value out of range :class:`OptionError`. Frozen: use
    :func:`dataclasses.replace` for a changed copy.
    """

    min_score: float | None = _option(
        None, "Minimum region-proposal score (0-1) for a box to seed the watershed. Lower it when touching nuclei "
        "stay merged; raise it when single nuclei are split.", "number", minimum=0, maximum=1,
        default_means="the model's own (0.85 for the shipped model)",
        note="0-1, empty = the model's; lower it if touching nuclei stay merged")
    nms_threshold: float = _option(
        0.3, "Overlap (IoU) above which proposal boxes overlapping a better one are suppressed.", "number",
        minimum=0, maximum=1, note="0-1; overlap allowed between proposal boxes")
    watershed: bool = _option(
        True, "RPN-aided watershed to split touching nuclei; off: one object per connected region of the "
        "foreground (plain U-Net).", "flag", macro_key="no_watershed",
        note="touching nuclei stay merged")
    two_pass: bool | None = _option(
        None, "Second pass on the foreground-normalized image (the paper's method); one pass is twice as fast.",
        "flag", default_means="as the model was trained",
        choices=(("as_trained", None), ("one", False), ("two", True)), macro_key="passes",
        note="foreground-normalization passes")
    min_size_fraction: float | None = _option(
        None, "Remove objects (and fill holes) smaller than this fraction of the mean nucleus area; 0 keeps all.",
        "number", minimum=0, default_means="the model's own (0.2 for the shipped model)",
        note="x the mean nucleus area, empty = the model's; smaller objects are removed")
    nucleus_diameter: float | None = _option(
        None, "Typical nucleus diameter; images whose nuclei are much larger or smaller than the training "
        "data's are resized internally.", "number", minimum=0, min_open=True, unit="pixels",
        default_means="estimated from the image", note="pixels; 0 = estimated from the image")
    auto_scale: bool = _option(
        True, "Resize images whose estimated nucleus size is far from the training size.", "flag", hosts=())
    tile_size: int | str = _option(
        "auto", "Segment large images in overlapping tiles of this many pixels, labels merged across seams "
        f"(bounds memory). auto: tiles of {AUTO_TILE_SIZE} for images over {AUTO_TILE_SIZE}x{AUTO_TILE_SIZE} "
        "pixels. 0: whole images.", "tile_size", unit="pixels",
        note="auto, 0 = whole image, or pixels")
    augment: bool = _option(
        False, "Test-time augmentation: average the final pass over the image's 8 flips and transposes "
        "(2.5-4x slower; a little more accurate).", "flag",
        note="average over 8 flips; 2.5-4x slower")
    scratch_dir: str | None = _option(
        None, "Folder for temporary files of tiled one-pass runs (about 9 bytes per pixel, removed at the end).",
        "folder", default_means="the system's temporary folder",
        note="empty = the system's temporary folder")

    def __post_init__(self):
        for entry in SEGMENT_OPTIONS:
            object.__setattr__(self, entry.name, entry.check(getattr(self, entry.name)))


def _entries() -> tuple[Option, ...]:
    return tuple(Option(name=f.name, default=f.default, **f.metadata["option"]) for f in fields(SegmentOptions))


#: The options of :meth:`Segmenter.segment`, in the order hosts show them.
SEGMENT_OPTIONS: tuple[Option, ...] = _entries()

#: Options of reading an image, before the engine sees a 2-D plane.
INPUT_OPTIONS: tuple[Option, ...] = (
    Option("channel", "integer", None, "Channel to segment in multi-channel images (0-based).", minimum=0,
           default_means="none; a multi-channel image needs one", hosts=("cli", "pyimagej")),
)

#: Options of tracking the nuclei of time-lapses (nuset_engine/tracking.py).
TRACK_OPTIONS: tuple[Option, ...] = (
    Option("divisions", "flag", False, "Time-lapses: link the daughters of a dividing nucleus to their mother "
           "(parent_track_id in the tracks table). Off: every track is a nucleus on its own, as real nuclei "
           "that only move can get spurious parent links.", note="link daughters to their mother",
           hosts=("cli",)),
)

OPTIONS: tuple[Option, ...] = SEGMENT_OPTIONS + INPUT_OPTIONS + TRACK_OPTIONS


def option(name: str) -> Option:
    """The table entry of option ``name``."""
    for entry in OPTIONS:
        if entry.name == name:
            return entry
    raise KeyError(f"no option {name!r}; options are {', '.join(o.name for o in OPTIONS)}")


def options_from(values: dict | None = None, **overrides) -> SegmentOptions:
    """:class:`SegmentOptions` from a mapping and keywords, unknown names
    refused with the list of known ones (a ``TypeError``, as for any keyword)."""
    values = {**(values or {}), **overrides}
    known = {o.name for o in SEGMENT_OPTIONS}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown segmentation option(s) {', '.join(unknown)}; options are {', '.join(sorted(known))}")
    return SegmentOptions(**values)


def option_types() -> dict[str, str]:
    """The annotation of each :class:`SegmentOptions` field, as text."""
    return {f.name: f.type for f in fields(SegmentOptions)}


def options_doc(entries=SEGMENT_OPTIONS, indent: int = 8) -> str:
    """A numpydoc section listing ``entries`` (type, default, range, help),
    for the docstrings of the functions that take them as keywords."""
    types = option_types()
    pad = " " * indent
    lines = ["", f"{pad}Options", f"{pad}-------"]
    for entry in entries:
        default = entry.default_means if entry.default is None else repr(entry.default)
        lines.append(f"{pad}{entry.name} : {types.get(entry.name, 'int | None')}, default {default}")
        allowed = entry.describe_range()
        text = entry.help + (f" Allowed: {allowed}." if allowed else "")
        lines.append(textwrap.fill(text, 100, initial_indent=pad + "    ", subsequent_indent=pad + "    "))
    return "\n".join(lines) + "\n"
