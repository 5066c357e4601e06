"""The option table (nuset_engine.options): one declaration that checks,
parses and documents every segmentation option."""
import inspect
import subprocess
import sys

import numpy as np
import pytest

from nuset_engine.options import (OPTIONS, SEGMENT_OPTIONS, OptionError, SegmentOptions, option, options_doc,
                                  options_from)


def test_every_default_passes_its_own_check_and_makes_the_defaults():
    defaults = SegmentOptions()
    for entry in SEGMENT_OPTIONS:
        assert entry.check(entry.default) == entry.default, entry.name
        assert getattr(defaults, entry.name) == entry.default, entry.name
        assert entry.help.endswith((".", ")")) and entry.kind, entry.name
        if entry.default is None:
            assert entry.default_means, entry.name
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)
    assert len({o.key for o in OPTIONS}) == len(OPTIONS)  # macro keys are unique too


@pytest.mark.parametrize("name, value, message", [
    ("min_score", 1.5, "min_score must be between 0 and 1, got 1.5"),
    ("min_score", "0.9", "min_score must be a number between 0 and 1, got '0.9'"),
    ("nms_threshold", -0.1, "nms_threshold must be between 0 and 1"),
    ("min_size_fraction", float("nan"), "min_size_fraction must be 0 or more, got nan"),
    ("nucleus_diameter", 0, "nucleus_diameter must be more than 0 pixels, got 0"),
    ("tile_size", 100, "tile_size must be at least 192 pixels"),
    ("tile_size", 512.5, "tile_size must be at least 192 pixels"),
    ("tile_size", "large", "tile_size must be at least 192 pixels (1024-2048 work well), 0 for whole images, or"),
    ("two_pass", "yes", "two_pass must be True or False or None (as the model was trained)"),
    ("watershed", None, "watershed must be True or False, got None"),
    ("scratch_dir", "/no/such/folder", "scratch_dir must be an existing folder"),
])
def test_values_out_of_range_are_refused_naming_the_option(name, value, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        SegmentOptions(**{name: value})
    assert caught.value.option == name


def test_values_are_normalized():
    options = SegmentOptions(min_score=1, tile_size=1024.0, augment=1)
    assert options.min_score == 1.0 and isinstance(options.min_score, float)
    assert options.tile_size == 1024 and isinstance(options.tile_size, int)
    assert options.augment is True
    assert SegmentOptions(tile_size="AUTO").tile_size == "auto" and SegmentOptions(tile_size=None).tile_size == 0


def test_unknown_options_are_refused_with_the_known_ones():
    with pytest.raises(TypeError, match="unknown segmentation option.*min_scor;.*min_score"):
        options_from(min_scor=0.9)


@pytest.mark.parametrize("name, text, value", [
    ("min_score", " 0.9 ", 0.9),
    ("nucleus_diameter", "0", None),  # 0 stands for "not given" where 0 is not allowed
    ("nucleus_diameter", "", None),
    ("nucleus_diameter", "31.5", 31.5),
    ("tile_size", "auto", "auto"),
    ("tile_size", "1024.0", 1024),
    ("tile_size", "0", 0),
    ("two_pass", "as_trained", None),
    ("two_pass", "one", False),
    ("two_pass", "two", True),
    ("two_pass", "true", True),
    ("watershed", "false", False),
    ("augment", "yes", True),
    ("channel", "2", 2),
])
def test_text_as_typed_in_a_dialog_or_macro(name, text, value):
    assert option(name).parse(text) == value


@pytest.mark.parametrize("name, text, message", [
    ("min_score", "high", "min_score='high' is not a number"),
    ("tile_size", "256px", "'256px' is not 'auto', 0 (whole images) or a number of pixels"),
    ("two_pass", "three", "two_pass='three': use as_trained, one, two"),
    ("min_score", "2", "min_score must be between 0 and 1"),
])
def test_bad_text_is_refused(name, text, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        option(name).parse(text)


def test_the_table_imports_without_torch_or_numpy():
    """The CLI's --help and the CellProfiler module read the table cheaply."""
    code = ("import sys, nuset_engine.options as o; assert o.SegmentOptions(); "
            "heavy = [m for m in ('torch', 'numpy', 'skimage') if m in sys.modules]; print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_segment_shows_and_documents_the_options_as_keywords():
    from nuset_engine import Segmenter

    parameters = inspect.signature(Segmenter.segment).parameters
    for entry in SEGMENT_OPTIONS:
        assert parameters[entry.name].default == entry.default, entry.name
        assert parameters[entry.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert f"{entry.name} : " in Segmenter.segment.__doc__
    assert options_doc() in Segmenter.segment.__doc__


def test_an_options_object_and_keywords_segment_alike(segmenter, sample):
    crop = sample[0][:192, :192]
    options = SegmentOptions(min_score=0.9, two_pass=False)
    by_object = segmenter.segment(crop, options)
    assert np.array_equal(by_object, segmenter.segment(crop, min_score=0.9, two_pass=False))
    assert by_object.max() > 5
    # keywords override the object's fields
    assert np.array_equal(segmenter.segment(crop, options, two_pass=True), segmenter.segment(crop, min_score=0.9))
    _, details = segmenter.segment(crop, options, return_details=True)
    # two_pass as given; min_size_fraction, left to the model, what ran: the model's own
    assert details.options == SegmentOptions(min_score=0.9, two_pass=False,
                                             min_size_fraction=segmenter.postprocessing["min_size_fraction"])
    _, details = segmenter.segment(crop, return_details=True)
    assert details.options.two_pass is segmenter.two_pass  # None resolved to what ran
