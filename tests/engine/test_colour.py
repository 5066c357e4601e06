"""Input kinds (nuset_engine.colour) on real H&E and brightfield images of
the non-fluorescence DSB2018 set: the checks, the transforms, and models
whose file records their input."""
from __future__ import annotations


import numpy as np
import pytest
import tifffile

from nuset_engine import Segmenter, default_model_path
from nuset_engine.colour import (INPUT_KINDS, InputMismatchError, ModelInput, haematoxylin, input_metadata,
                                 mark_model_input, model_input, prepare_input, read_input)
from nuset_engine.data import find_pairs, load_pairs
from nuset_engine.errors import OutputExistsError
from nuset_engine.io import open_plane
from nuset_engine.metrics import evaluate_pair, pool
from tests.conftest import REAL_DATA

NONFLUO = REAL_DATA / "dsb2018_stage1_train_nonfluo"
# H&E tiles of four of the split's section groups (benchmarks/histology_split.json):
# dense purple, pink (eosin-rich), large purple nuclei, sparse spindle nuclei
HNE_IDS = ["00ae65c1c6631ae6f2be1a449902976e6eb8483bf6b0740d00530220832c6d3e",
           "57bd029b19c1b382bef9db3ac14f13ea85e36a6053b92e46caedee95c05847ab",
           "2dd3356f2dcf470aec4003800744dfec6490e75d88011e1d835f4f3d60f88e7a",
           "01d44a26f6680c42ba94c9bc6339228579a95d0e2695b149b7cc0c9592b21baf"]
BRIGHTFIELD_ID = "08275a5b1c2dfcd739e8c4888a5ee2d29f83eccfa75185404ced1dc0866ea992"


def real(image_id: str) -> tuple[np.ndarray, np.ndarray]:
    return (tifffile.imread(NONFLUO / "images" / f"{image_id}.tif"),
            tifffile.imread(NONFLUO / "labels" / f"{image_id}.tif"))


def contrast(plane, labels) -> float:
    """Mean inside the annotated nuclei minus mean outside, in units of the plane's spread."""
    plane = np.asarray(plane, np.float64)
    return (plane[labels > 0].mean() - plane[labels == 0].mean()) / plane.std()


@pytest.fixture(scope="module")
def histology_model(tmp_path_factory):
    """The shipped weights in a file that says it takes H&E (the 'hed' input)."""
    path = mark_model_input(default_model_path(), "hed", tmp_path_factory.mktemp("models") / "hed.nuset.pt")
    return Segmenter.load(path, device="cpu")


def test_old_model_files_are_fluorescence_models(segmenter):
    assert "input" not in segmenter.metadata  # the shipped file predates input kinds
    assert model_input(segmenter.metadata) == model_input(None) == ModelInput("fluorescence")


@pytest.mark.parametrize("name", list(INPUT_KINDS))
def test_input_metadata_round_trips(name):
    assert model_input({"input": input_metadata(name)}).name == name


@pytest.mark.parametrize("entry", [{"kind": "fluorescence", "transform": "hed"}, {"kind": "xray"}, "hed"])
def test_unknown_input_in_a_model_file_is_refused(entry):
    with pytest.raises(ValueError, match="input NuSeT does not know"):
        model_input({"input": entry})


def test_a_marked_model_file_records_its_input_and_is_not_overwritten(histology_model, tmp_path):
    assert histology_model.metadata["input"] == {"kind": "rgb", "transform": "hed"}
    assert model_input(histology_model.metadata).name == "hed"
    target = tmp_path / "bright.nuset.pt"
    target.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="bright.nuset.pt"):
        mark_model_input(default_model_path(), "brightfield", target)
    assert target.read_bytes() == b"mine"
    mark_model_input(default_model_path(), "brightfield", target, overwrite=True)
    assert model_input(Segmenter.load(target, device="cpu").metadata).name == "brightfield"


def test_rgb_given_to_a_fluorescence_model_names_the_choices(segmenter):
    rgb, _ = real(HNE_IDS[0])
    with pytest.raises(InputMismatchError) as caught:
        segmenter.segment(rgb)
    message = str(caught.value)
    for choice in ("fluorescence model", "pick one channel", "convert the image to gray", "histology model"):
        assert choice in message
    with pytest.raises(InputMismatchError, match="brightfield model"):
        prepare_input(rgb, ModelInput("brightfield"))


def test_a_16_bit_channel_given_to_a_histology_model_is_refused(histology_model):
    gray = real(BRIGHTFIELD_ID)[0].astype(np.uint16) * 257
    with pytest.raises(InputMismatchError, match=r"single-channel uint16 image .* histology model.*RGB") as caught:
        histology_model.segment(gray)
    assert "fluorescence model" in str(caught.value) and "brightfield model" in str(caught.value)


def test_a_three_channel_model_is_refused_until_there_is_one():
    with pytest.raises(InputMismatchError, match="3-channel RGB input"):
        prepare_input(real(HNE_IDS[0])[0], {"input": input_metadata("rgb")})


@pytest.mark.parametrize("image_id", HNE_IDS)
def test_transforms_make_he_nuclei_bright(image_id):
    rgb, labels = real(image_id)
    gray = rgb.astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    assert contrast(gray, labels) < -0.3  # as read, nuclei are dark: why a gray model fails here
    plane = prepare_input(rgb, ModelInput("hed"))
    assert plane.shape == labels.shape and plane.dtype == np.float32
    assert 0 <= plane.min() and plane.max() <= 1
    assert contrast(plane, labels) > 0.3
    assert contrast(prepare_input(gray, ModelInput("brightfield")), labels) > 0.3
    np.testing.assert_array_equal(prepare_input(rgb, ModelInput("rgb-inverted")), -gray)
    # RGBA (a PNG's alpha) gives the same plane
    rgba = np.dstack([rgb, np.full(labels.shape, 255, np.uint8)])
    np.testing.assert_array_equal(haematoxylin(rgba), plane)


def test_brightfield_inversion_makes_nuclei_bright_and_stays_lazy():
    gray, labels = real(BRIGHTFIELD_ID)
    assert contrast(prepare_input(gray, ModelInput("fluorescence")), labels) < -0.3
    inverted = prepare_input(gray, ModelInput("brightfield"))
    assert contrast(inverted, labels) > 0.3
    lazy = prepare_input(open_plane(NONFLUO / "images" / f"{BRIGHTFIELD_ID}.tif"), ModelInput("brightfield"))
    assert not isinstance(lazy, np.ndarray) and lazy.shape == gray.shape
    np.testing.assert_array_equal(lazy[100:140, 7:60], inverted[100:140, 7:60])


@pytest.mark.slow  # ~12 s on 2 shared cores
def test_a_histology_model_segments_an_rgb_tile(histology_model, segmenter):
    rgb, labels = real(HNE_IDS[0])
    found = histology_model.segment(rgb)
    assert found.shape == labels.shape
    # the same as the plane given to the same weights as a gray model
    np.testing.assert_array_equal(found, segmenter.segment(haematoxylin(rgb)))
    summary = pool([evaluate_pair(labels, found)])
    assert summary["n_pred"] > 0.5 * int(labels.max())
    assert summary["ap@0.50"] > 0.2


def _pairs(tmp_path, ids):
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
        for image_id in ids:
            (tmp_path / sub / f"{image_id}.tif").symlink_to(NONFLUO / sub / f"{image_id}.tif")
    return find_pairs(tmp_path / "images", tmp_path / "labels")


def test_training_pairs_follow_the_input_kind(tmp_path):
    pairs = _pairs(tmp_path, HNE_IDS[:2] + [BRIGHTFIELD_ID])
    hne = [p for p in pairs if p[0] != BRIGHTFIELD_ID]
    before = load_pairs(pairs)  # no kind: RGB as luminance, as always
    assert all(image.ndim == 2 for image, _ in before)
    for (image, labels), (_, path, _) in zip(load_pairs(hne, input_kind="hed"), hne):
        np.testing.assert_array_equal(image, haematoxylin(tifffile.imread(path)))
    (bright, labels), = load_pairs([p for p in pairs if p[0] == BRIGHTFIELD_ID], input_kind="brightfield")
    assert contrast(bright, labels) > 0.3
    with pytest.raises(InputMismatchError, match=HNE_IDS[0]):
        load_pairs(hne, input_kind="fluorescence")
    with pytest.raises(InputMismatchError, match=BRIGHTFIELD_ID):
        load_pairs(pairs, input_kind="hed")


def test_read_input_reads_what_the_model_takes():
    path = NONFLUO / "images" / f"{HNE_IDS[0]}.tif"
    assert read_input(path, ModelInput("hed")).shape == (256, 320, 3)
    with pytest.raises(InputMismatchError, match=str(path)):
        read_input(path)
    assert read_input(path, channel=2).shape == (256, 320)  # a channel chosen explicitly
    with pytest.raises(InputMismatchError, match="leave the channel out"):
        read_input(path, ModelInput("hed"), channel=0)


@pytest.mark.slow  # ~15 s on 2 shared cores: tiled runs
def test_a_brightfield_model_reads_a_memory_map_tile_by_tile(tmp_path):
    path = mark_model_input(default_model_path(), "brightfield", tmp_path / "bright.nuset.pt")
    model = Segmenter.load(path, device="cpu")
    gray = real(BRIGHTFIELD_ID)[0][:512, :512]
    np.save(tmp_path / "crop.npy", gray)
    mapped = np.load(tmp_path / "crop.npy", mmap_mode="r")
    tiled = model.segment(mapped, tile_size=256)
    np.testing.assert_array_equal(tiled, model.segment(gray, tile_size=256))
    np.testing.assert_array_equal(model.segment(gray), Segmenter.load(device="cpu").segment(-gray.astype(np.float32)))
