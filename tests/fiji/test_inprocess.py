"""fiji_bridge in process: scyjava + Debian's ij.jar, real ImagePlus objects."""
import numpy as np
import pytest

from fiji_bridge import imageplus_to_array, labels_to_imageplus, segment_imageplus


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_imageplus_round_trip_is_pixel_exact(jvm, dtype):
    array = (np.random.default_rng(0).random((37, 53)) * 250).astype(dtype)
    from scyjava import jimport

    processors = {np.uint8: "ij.process.ByteProcessor", np.uint16: "ij.process.ShortProcessor",
                  np.float32: "ij.process.FloatProcessor"}
    imp = jimport("ij.ImagePlus")("t", jimport(processors[dtype])(53, 37))
    for y in range(37):
        for x in range(53):
            imp.getProcessor().putPixelValue(x, y, float(array[y, x]))
    assert np.array_equal(imageplus_to_array(imp), array)


def test_segment_imageplus_labels_and_overlay(jvm, segmenter, sample):
    imp = labels_to_imageplus(sample[0], "nuclei")  # a 16-bit ImagePlus holding the sample
    assert np.array_equal(imageplus_to_array(imp), sample[0])
    with pytest.warns(UserWarning, match="no display \\(headless\\), so no ROI Manager: the .* ROIs are on the "
                                         "Overlay of 'nuclei' instead"):
        result = segment_imageplus(imp, add_rois=True)  # the keyword of segment() too
    expected = segmenter.segment(sample[0])
    assert result.getTitle() == "nuclei-labels" and result.getBitDepth() == 16
    assert np.array_equal(imageplus_to_array(result), expected)  # labels -> ImagePlus pixel exact
    overlay = imp.getOverlay()  # headless JVM: no ROI Manager, so the ROIs go on the Overlay
    assert overlay is not None and overlay.size() == expected.max()
    assert str(overlay.get(0).getName()) == "0001"


def test_add_rois_to_manager_still_works_with_a_deprecation_warning(jvm, segmenter, sample):
    crop = np.ascontiguousarray(sample[0][:128, :128])
    imp = labels_to_imageplus(crop, "crop")
    with pytest.warns(DeprecationWarning, match=r"add_rois_to_manager=\.\.\.\) is deprecated: use add_rois="), \
            pytest.warns(UserWarning, match="ROIs are on the Overlay of 'crop'"):
        result = segment_imageplus(imp, add_rois_to_manager=True)
    expected = segmenter.segment(crop)
    assert np.array_equal(imageplus_to_array(result), expected)
    assert imp.getOverlay() is not None and imp.getOverlay().size() == expected.max()
    plain = labels_to_imageplus(crop, "plain")
    with pytest.warns(DeprecationWarning):
        segment_imageplus(plain, add_rois_to_manager=False)
    assert plain.getOverlay() is None  # False still means no ROIs


def test_large_label_counts_survive(jvm):
    labels = np.arange(70000 * 1, dtype=np.uint32).reshape(280, 250)
    imp = labels_to_imageplus(labels)
    assert imp.getBitDepth() == 32
    assert np.array_equal(imageplus_to_array(imp).astype(np.uint32), labels)


def test_rgb_imageplus_is_refused_by_a_gray_model_naming_the_choices(jvm):
    from scyjava import jimport

    imp = jimport("ij.ImagePlus")("rgb", jimport("ij.process.ColorProcessor")(8, 8))
    with pytest.raises(ValueError, match="ImagePlus 'rgb': an RGB image .* was given to a fluorescence model.*"
                                         "pick one channel.*histology model"):
        segment_imageplus(imp)
    # real RGB images with a colour model: tests/fiji/test_stacks_in_process.py


def test_segment_imageplus_roi_zip_and_calibration(jvm, segmenter, sample, tmp_path):
    import roifile

    imp = labels_to_imageplus(sample[0], "nuclei.tif")
    imp.getCalibration().pixelWidth = 0.65
    result = segment_imageplus(imp, roi_zip=str(tmp_path / "RoiSet.zip"))  # headless: a file, not the Overlay
    assert result.getCalibration().pixelWidth == pytest.approx(0.65)
    assert imp.getOverlay() is None
    assert len(roifile.roiread(tmp_path / "RoiSet.zip")) == segmenter.segment(sample[0]).max()
