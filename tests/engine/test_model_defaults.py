"""A model file's own post-processing defaults (min_score,
min_size_fraction): used where an option is left at "the model's own";
files without them keep the values every model used before."""
import numpy as np
import pytest

from nuset_engine import Segmenter
from nuset_engine.model_io import load_model, save_model
from nuset_engine.options import MODEL_FALLBACKS, SegmentOptions, option


@pytest.fixture
def crop(sample):
    return np.ascontiguousarray(sample[0][:256, :256])


def test_options_default_to_the_models_own():
    assert SegmentOptions().min_score is None and SegmentOptions().min_size_fraction is None
    assert "the model's own" in option("min_score").default_means
    # an empty field means the model's own; 0 is a value of its own (keep every object)
    assert option("min_size_fraction").parse("") is None and option("min_size_fraction").parse("0") == 0
    assert option("nucleus_diameter").parse("0") is None  # 0 is not a diameter: it stands for "estimated"


def test_a_model_without_its_own_uses_the_values_every_model_used(segmenter, crop):
    assert "postprocessing" not in segmenter.metadata  # the shipped model predates them
    assert segmenter.postprocessing == MODEL_FALLBACKS == {"min_score": 0.85, "min_size_fraction": 0.2}
    labels, details = segmenter.segment(crop, return_details=True)
    assert (details.options.min_score, details.options.min_size_fraction) == (0.85, 0.2)
    assert np.array_equal(labels, segmenter.segment(crop, min_score=0.85, min_size_fraction=0.2))


def test_a_models_own_defaults_are_used_unless_given(tmp_path, crop):
    net, metadata = load_model()
    path = save_model(tmp_path / "own.nuset.pt", net, metadata | {"postprocessing": {"min_score": 0.3,
                                                                                     "min_size_fraction": 0.6}})
    own, shipped = Segmenter.load(path, device="cpu"), Segmenter.load(device="cpu")
    assert own.postprocessing == {"min_score": 0.3, "min_size_fraction": 0.6}
    labels, details = own.segment(crop, return_details=True)
    assert (details.options.min_score, details.options.min_size_fraction) == (0.3, 0.6)
    assert np.array_equal(labels, shipped.segment(crop, min_score=0.3, min_size_fraction=0.6))
    assert not np.array_equal(labels, shipped.segment(crop))  # the defaults made a difference here
    # a value given wins over the model's own
    assert np.array_equal(own.segment(crop, min_score=0.85, min_size_fraction=0.2), shipped.segment(crop))


def test_a_models_invalid_defaults_are_a_clear_error(tmp_path):
    net, metadata = load_model()
    path = save_model(tmp_path / "bad.nuset.pt", net, metadata | {"postprocessing": {"min_score": 7}})
    with pytest.raises(ValueError, match=r"post-processing defaults are not valid \(min_score must be between 0 and 1"):
        Segmenter.load(path, device="cpu")
