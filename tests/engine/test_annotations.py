"""Training annotations in the forms users have them: label images of any
integer dtype, binary masks, and ImageJ ROI sets (NuSeT's own ``_rois.zip``,
Fiji-style ``RoiSet.zip`` of polygon, traced, freehand, oval and rectangle
ROIs), each read back from real DSB2018 annotations and compared with them;
and the pairing of images with annotation files, and every bad annotation
named with its file.

Margins. Label images and masks must come back exactly. A polygon encloses
the pixels whose centres are inside it (ImageJ's rule), so a traced outline
(pixel edges, as Fiji's wand draws) of a nucleus without holes or
diagonal-only joins comes back exactly, and so do ovals and rectangles
(compared with ImageJ's own definitions). NuSeT's writer (``write_rois``)
stores one polygon per nucleus, its longest contour: holes are filled and a
part joined to the rest only by a corner is lost (``find_contours`` splits
there). So for ``_rois.zip`` every nucleus must be found, no pixel may go to
a nucleus outside its filled outline, and nearly all nuclei (>= 95%) and
labelled pixels (>= 98%) come back exactly. Measured on the four files used
here: 124/125, 36/36, 312/313 and 119/125 nuclei exact, >= 99.5% of labelled
pixels, worst IoU 0.90 (0402a81e..., diagonal joins); on the first 60 DSB2018
fluorescence images, the worst image kept 98.0% of its labelled pixels and
the worst nucleus had IoU 0.53 (half of it joined by a corner only).
"""
from __future__ import annotations

import functools
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest
import roifile
import tifffile
from scipy import ndimage
from skimage.measure import find_contours

from nuset_engine.annotations import annotated_stems, read_annotation
from nuset_engine.batch import OUTPUT_SUFFIXES
from nuset_engine.data import find_pairs, load_pairs
from nuset_engine.outputs import label_contours, write_rois
from tests.conftest import REAL_DATA

DATA = REAL_DATA
STARDIST = DATA / "stardist_wheel_dsb2018_example"
FLUO = DATA / "dsb2018_stage1_train_fluo"
# a few DSB2018 fluorescence images: 256x256 with 36 nuclei, 520x696 with 313, 260x347 with 125 (holes, corners)
FLUO_IDS = ["003cee89357d9fe13516167fd67b609a164651b21934585648c740d2c3d86dc1",
            "07fb37aafa6626608af90c1e18f6a743f29b6b233d2e427dcd1102df6a916cf5",
            "0402a81e75262469925ea893b6706183832e85324f7b1e08e634129f5d522cdd"]


@functools.lru_cache(maxsize=None)
def real_labels(name: str) -> np.ndarray:
    """The real annotation ``name`` (``img2d`` or a DSB2018 id), read once."""
    path = STARDIST / "labels" / "img2d.tif" if name == "img2d" else FLUO / "labels" / f"{name}.tif"
    labels = tifffile.imread(path)
    labels.flags.writeable = False
    return labels


REAL = pytest.mark.parametrize("name", ["img2d", *FLUO_IDS], ids=lambda v: v[:10])


def same_instances(a, b) -> bool:
    """The same nuclei, pixel for pixel, whatever their ids."""
    fg = a > 0
    if not np.array_equal(fg, b > 0):
        return False
    pairs = np.unique(np.stack([a[fg], b[fg]]), axis=1)
    return pairs.shape[1] == len(np.unique(a[fg])) == len(np.unique(b[fg]))


def best_iou(truth, got):
    """Per nucleus of ``truth``, its best IoU with a nucleus of ``got``."""
    out = []
    for k, sl in enumerate(ndimage.find_objects(truth), start=1):
        if sl is None:
            continue
        mask = truth == k
        ids = np.unique(got[mask])
        out.append(max((np.count_nonzero(mask & (got == i)) / np.count_nonzero(mask | (got == i)) for i in ids if i),
                       default=0.0))
    return np.array(out)


def traced_outline(mask):
    """The pixel-edge outline of a 4-connected mask without holes, with integer
    ImageJ coordinates, as Fiji's wand traces it: ``find_contours`` on the mask
    doubled in size runs a quarter pixel from the pixel edges; rounding puts
    each vertex on its pixel corner."""
    big = np.pad(np.kron(mask, np.ones((2, 2))), 1)
    [rc] = find_contours(big, 0.5)
    xy = np.round((rc[:, ::-1] - 1 + 0.5) / 2).astype(np.int32)
    keep = np.r_[True, (np.diff(xy, axis=0) != 0).any(axis=1)]
    return xy[keep]


def simple_nuclei(labels):
    """Ids of nuclei that are one 4-connected piece without holes."""
    ids = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is not None:
            mask = labels[sl] == k
            if ndimage.label(mask)[1] == 1 and not (ndimage.binary_fill_holes(mask) & ~mask).any():
                ids.append(k)
    return ids


def write_roi_set(path, rois):
    roifile.roiwrite(path, rois, mode="w")
    return path


# -- label images and masks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int32, np.int64])
def test_label_tiffs_of_any_integer_dtype_come_back_exactly(tmp_path, dtype):
    truth = real_labels("img2d")  # 125 nuclei, ids up to 183: fits uint8
    path = tmp_path / "img2d_labels.tif"
    tifffile.imwrite(path, truth.astype(dtype))
    got = read_annotation(path, truth.shape)
    assert got.dtype == np.int32 and np.array_equal(got, truth)


def test_a_binary_mask_of_separate_nuclei_is_split_into_them(tmp_path):
    truth = real_labels("img2d")
    ids = truth.astype(np.int64)
    highest = ndimage.grey_dilation(ids, size=(3, 3))
    lowest = ndimage.grey_erosion(np.where(ids > 0, ids, ids.max() + 1), size=(3, 3))
    touching = np.unique(ids[(highest != lowest) & (ids > 0)])  # another id among the 8 neighbours
    separate = np.where(np.isin(truth, touching), 0, truth)
    assert 50 < len(np.unique(separate)) - 1 < 125  # the test means something: many nuclei, some removed
    tifffile.imwrite(tmp_path / "a.tif", (separate > 0).astype(np.uint8) * 255)
    tifffile.imwrite(tmp_path / "b.tif", separate > 0)  # bool
    iio.imwrite(tmp_path / "c.png", (separate > 0).astype(np.uint8))
    for name in ("a.tif", "b.tif", "c.png"):
        assert same_instances(read_annotation(tmp_path / name, truth.shape), separate)


def test_whole_number_float_labels_are_read_and_fractional_ones_refused(tmp_path):
    truth = real_labels("img2d")
    path = tmp_path / "img2d.tif"
    tifffile.imwrite(path, truth.astype(np.float32))  # e.g. a 32-bit label image from Fiji
    assert np.array_equal(read_annotation(path, truth.shape), truth)
    tifffile.imwrite(path, truth.astype(np.float32) / 7)  # a probability map, not labels
    with pytest.raises(ValueError, match=f"{path}: the labels are fractional numbers"):
        read_annotation(path, truth.shape)


# -- ImageJ ROI sets --------------------------------------------------------------------------------------------------


@REAL
def test_nusets_own_rois_zip_comes_back(tmp_path, name):
    truth = real_labels(name)
    path = write_rois(tmp_path / f"{name}_rois.zip", truth)
    got = read_annotation(path, truth.shape)
    iou = best_iou(truth, got)
    assert got.max() == len(iou) == len(np.unique(truth)) - 1  # every nucleus, one instance each
    assert iou.min() > 0.5 and (iou == 1).mean() >= 0.95
    # each instance is the nucleus it covers most: ids as in the file, pixels within its filled outline
    owner = np.zeros(got.max() + 1, np.int64)
    for j, sl in enumerate(ndimage.find_objects(got), start=1):
        values, counts = np.unique(truth[sl][got[sl] == j], return_counts=True)
        owner[j] = values[np.argmax(counts)]
    assert np.array_equal(np.sort(owner[1:]), np.unique(truth)[1:])
    recovered = np.count_nonzero((owner[got] == truth) & (truth > 0)) / np.count_nonzero(truth)
    assert recovered >= 0.98
    filled = np.zeros_like(truth)
    for k, sl in enumerate(ndimage.find_objects(truth), start=1):
        if sl is not None:
            filled[sl][ndimage.binary_fill_holes(truth[sl] == k)] = k
    assert np.all((got == 0) | (owner[got] == filled))


@REAL
def test_a_fiji_roi_set_of_polygons_comes_back_exactly(tmp_path, name):
    truth = real_labels(name)
    ids = simple_nuclei(truth)
    contours = label_contours(truth)
    types = [roifile.ROI_TYPE.TRACED, roifile.ROI_TYPE.POLYGON, roifile.ROI_TYPE.FREEHAND]
    rois, slices = [], ndimage.find_objects(truth)
    for n, k in enumerate(ids):
        sl = slices[k - 1]
        xy = traced_outline(truth[sl] == k) + [sl[1].start, sl[0].start]
        kind = types[n % 3]
        if kind == roifile.ROI_TYPE.FREEHAND:  # Fiji's freehand: float coordinates along the pixel centres' contour
            xy = contours[k].astype(np.float32)
        roi = roifile.ImagejRoi.frompoints(xy, name=f"nucleus-{k}", z=n % 4, t=n % 2)  # Z/T positions: ignored
        roi.roitype = kind
        rois.append(roi)
    path = write_roi_set(tmp_path / "RoiSet.zip", rois)
    got = read_annotation(path, truth.shape)
    expected = np.where(np.isin(truth, ids), truth, 0)
    assert len(ids) > 0.8 * (len(np.unique(truth)) - 1) and same_instances(got, expected)


def imagej_oval_mask(left, top, width, height):
    """ImageJ's OvalRoi.getMask(): pixel (x, y) of the box is inside when
    ``(x - (a - 0.5))**2 / a**2 + (y - (b - 0.5))**2 / b**2 <= 1``."""
    a, b = width / 2, height / 2
    y, x = np.mgrid[:height, :width]
    return (x - (a - 0.5)) ** 2 / a**2 + (y - (b - 0.5)) ** 2 / b**2 <= 1


@REAL
def test_a_fiji_roi_set_of_ovals_and_rectangles_comes_back_exactly(tmp_path, name):
    truth = real_labels(name)
    boxes, taken = [], np.zeros(truth.shape, bool)
    for sl in ndimage.find_objects(truth):  # the nuclei's bounding boxes, those not overlapping another
        if sl is not None and not taken[sl].any():
            taken[sl] = True
            boxes.append(sl)
    rois, expected = [], np.zeros(truth.shape, np.int32)
    for n, (rows, cols) in enumerate(boxes):
        roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL if n % 2 else roifile.ROI_TYPE.RECT, name=f"box-{n}",
                                top=rows.start, left=cols.start, bottom=rows.stop, right=cols.stop)
        rois.append(roi)
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        inside = imagej_oval_mask(cols.start, rows.start, shape[1], shape[0]) if n % 2 else np.ones(shape, bool)
        expected[rows, cols][inside] = n + 1
    path = write_roi_set(tmp_path / f"{name}_RoiSet.zip", rois)
    got = read_annotation(path, truth.shape)
    assert len(boxes) > 10 and np.array_equal(got, expected)


def test_overlapping_rois_leave_the_overlap_to_the_smaller_in_any_order(tmp_path):
    big = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name="big", top=10, left=10, bottom=50, right=50)
    small = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, name="small", top=30, left=30, bottom=60, right=60)
    for order in ([big, small], [small, big]):
        got = read_annotation(write_roi_set(tmp_path / "a.zip", order), (64, 64))
        oval = np.zeros((64, 64), bool)
        oval[30:60, 30:60] = imagej_oval_mask(30, 30, 30, 30)
        rect = np.zeros((64, 64), bool)
        rect[10:50, 10:50] = True
        assert same_instances(got, np.where(oval, 2, np.where(rect, 1, 0)))


def test_a_composite_roi_keeps_its_hole(tmp_path):
    square = lambda x0, y0, x1, y1: [0, x0, y0, 1, x1, y0, 1, x1, y1, 1, x0, y1, 4]  # noqa: E731
    path_data = np.array(square(10, 10, 30, 30) + square(15, 15, 25, 25), np.float32)
    donut = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name="donut", top=10, left=10, bottom=30, right=30,
                              shape_roi_size=len(path_data), multi_coordinates=path_data)
    got = read_annotation(write_roi_set(tmp_path / "a.zip", [donut]), (40, 40))
    expected = np.zeros((40, 40), np.int32)
    expected[10:30, 10:30] = 1
    expected[15:25, 15:25] = 0
    assert np.array_equal(got, expected)


def test_a_single_roi_file_and_rois_at_the_border(tmp_path):
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name="edge", top=-5, left=20, bottom=5, right=30)
    path = tmp_path / "a.roi"
    roi.tofile(path)
    got = read_annotation(path, (40, 40))
    expected = np.zeros((40, 40), np.int32)
    expected[0:5, 20:30] = 1  # partly outside: clipped
    assert np.array_equal(got, expected)


# -- bad annotations: errors naming the file and the fix --------------------------------------------------------------


def test_an_empty_roi_set_and_an_all_background_label_image_are_refused(tmp_path):
    empty = write_rois(tmp_path / "a_rois.zip", np.zeros((32, 32), np.uint16))  # NuSeT's zip for "no nuclei"
    assert zipfile.ZipFile(empty).namelist() == []
    with pytest.raises(ValueError, match=f"{empty}: the ROI set holds no ROI"):
        read_annotation(empty, (32, 32))
    blank = tmp_path / "a.tif"
    tifffile.imwrite(blank, np.zeros((32, 32), np.uint16))
    with pytest.raises(ValueError, match=f"{blank}: every pixel is background"):
        read_annotation(blank, (32, 32))


def _image_folder(root, image, stems=("a", "b", "c")):
    """``root/images/<stem>.tif`` (the same image each) and an empty ``root/labels``."""
    for sub in ("images", "labels"):
        (root / sub).mkdir()
    for stem in stems:
        tifffile.imwrite(root / "images" / f"{stem}.tif", image)


def test_empty_annotations_in_a_training_folder_are_background_only_images_and_named(tmp_path, stardist_pair):
    # an image without nuclei is a valid training sample (it was before ROI sets); the user is told which
    image, truth = stardist_pair
    _image_folder(tmp_path, image)
    write_rois(tmp_path / "labels" / "a_rois.zip", np.zeros_like(truth))
    tifffile.imwrite(tmp_path / "labels" / "b.tif", np.zeros_like(truth))
    tifffile.imwrite(tmp_path / "labels" / "c.tif", truth)
    with pytest.warns(UserWarning, match=f"2 of 3 annotations mark no nucleus.*background only: "
                                         f"{tmp_path / 'labels' / 'a_rois.zip'}, {tmp_path / 'labels' / 'b.tif'}"):
        samples = load_pairs(find_pairs(tmp_path / "images", tmp_path / "labels"))
    assert [int(labels.max() > 0) for _, labels in samples] == [0, 0, 1]
    assert np.array_equal(samples[2][1], truth)


def test_labels_of_another_size_name_both_files(tmp_path):
    path = tmp_path / "a_masks.tif"
    tifffile.imwrite(path, np.ones((30, 40), np.uint8))
    with pytest.raises(ValueError, match=rf"{path}: labels of shape \(30, 40\) do not match the image x.tif of shape "
                                         r"\(40, 30\)"):
        read_annotation(path, (40, 30), image_path="x.tif")


def test_negative_labels_are_refused(tmp_path):
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.array([[0, 1], [-1, 2]], np.int16))
    with pytest.raises(ValueError, match=f"{path}: negative labels"):
        read_annotation(path, (2, 2))


def test_a_roi_entirely_outside_the_image_is_named(tmp_path):
    inside = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, name="ok", top=2, left=2, bottom=10, right=10)
    outside = roifile.ImagejRoi.frompoints([[100, 100], [120, 100], [110, 120]], name="far")
    path = write_roi_set(tmp_path / "a.zip", [inside, outside])
    with pytest.raises(ValueError, match=f"{path}: ROI 2 of 2 \\('far'\\) lies outside the 64x64 image"):
        read_annotation(path, (64, 64))


@pytest.mark.parametrize("kind, what", [
    (roifile.ROI_TYPE.LINE, "a straight line"),
    (roifile.ROI_TYPE.POINT, "a point selection"),
    (roifile.ROI_TYPE.ANGLE, "an angle"),
    (roifile.ROI_TYPE.POLYLINE, "an open segmented line"),
])
def test_rois_that_outline_no_area_are_named(tmp_path, kind, what):
    good = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name="ok", top=2, left=2, bottom=10, right=10)
    bad = roifile.ImagejRoi.frompoints([[20, 20], [30, 25], [25, 35]], name="mark")
    bad.roitype = kind
    if kind == roifile.ROI_TYPE.LINE:
        bad.x1, bad.y1, bad.x2, bad.y2 = 20.0, 20.0, 30.0, 25.0
    path = write_roi_set(tmp_path / "a_RoiSet.zip", [good, bad])
    with pytest.raises(ValueError, match=f"{path}: ROI 2 of 2 \\('mark'\\) is {what}, which outlines no nucleus"):
        read_annotation(path, (64, 64))


def test_a_closed_polyline_is_an_outline(tmp_path):
    roi = roifile.ImagejRoi.frompoints([[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]], name="closed")
    roi.roitype = roifile.ROI_TYPE.POLYLINE
    got = read_annotation(write_roi_set(tmp_path / "a.zip", [roi]), (40, 40))
    assert np.array_equal(np.argwhere(got).min(0), [10, 10]) and np.array_equal(np.argwhere(got).max(0), [29, 29])


def test_a_zip_that_holds_no_rois_is_named(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.tif", b"II*\x00 not a ROI, an image someone zipped" * 4)
    with pytest.raises(ValueError, match=f"{path}: not an ImageJ ROI set"):
        read_annotation(path, (64, 64))
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=f"{path}: not an ImageJ ROI set"):
        read_annotation(path, (64, 64))


# -- pairing images with annotation files -----------------------------------------------------------------------------


def test_annotation_names_and_the_images_they_annotate():
    assert annotated_stems("cell1.tif") == ["cell1"]
    assert annotated_stems("cell1_labels.tif") == ["cell1_labels", "cell1"]
    assert annotated_stems("cell1_Masks.PNG") == ["cell1_Masks", "cell1"]
    assert annotated_stems("cell1_RoiSet.zip") == ["cell1_RoiSet", "cell1"]
    assert annotated_stems("cell1_rois.ZIP") == ["cell1_rois", "cell1"]
    assert annotated_stems("cell1.roi") == ["cell1"]
    assert annotated_stems("_labels.tif") == ["_labels"] and annotated_stems("notes.txt") == []


@pytest.fixture
def stardist_pair():
    return tifffile.imread(STARDIST / "images" / "img2d.tif"), tifffile.imread(STARDIST / "labels" / "img2d.tif")


def test_every_form_of_annotation_pairs_and_loads(tmp_path, stardist_pair):
    image, truth = stardist_pair
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir(), labels.mkdir()
    annotations = {"a": "a.zip", "b": "b_RoiSet.ZIP", "c": "c" + OUTPUT_SUFFIXES["rois"], "d": "d.roi",
                   "e": "e" + OUTPUT_SUFFIXES["labels"], "f": "f_masks.png", "g": "g.tif"}
    one = np.where(truth == 7, 7, 0)
    for stem, name in annotations.items():
        tifffile.imwrite(images / f"{stem}.tif", image)
        path = labels / name
        if name.endswith(".roi"):
            roifile.ImagejRoi.frompoints(label_contours(one)[7]).tofile(path)
        elif name.lower().endswith(".zip"):
            write_rois(path, truth)
        elif name.endswith(".png"):
            iio.imwrite(path, (truth > 0).astype(np.uint8) * 255)
        else:
            tifffile.imwrite(path, truth)
    (labels / "e_overlay.png").write_bytes(b"not read")  # what `nuset segment` writes beside: no annotation
    pairs = find_pairs(images, labels)
    assert [(i, p.name, a.name) for i, p, a in pairs] == [(s, f"{s}.tif", n) for s, n in sorted(annotations.items())]
    samples = dict(zip(annotations, load_pairs(pairs)))
    assert all(np.array_equal(img, image) for img, _ in samples.values())
    for stem in "ceg":
        assert (best_iou(truth, samples[stem][1]) > 0.5).all()
    assert same_instances(samples["d"][1], one)


def test_images_and_annotations_in_one_folder(tmp_path, stardist_pair):
    image, truth = stardist_pair
    tifffile.imwrite(tmp_path / "a.tif", image)
    tifffile.imwrite(tmp_path / "a_labels.tif", truth)
    tifffile.imwrite(tmp_path / "b.tif", image)
    write_rois(tmp_path / "b_rois.zip", truth)
    pairs = find_pairs(tmp_path, tmp_path)  # the annotations are not taken for images
    assert [(i, p.name, a.name) for i, p, a in pairs] == [("a", "a.tif", "a_labels.tif"), ("b", "b.tif", "b_rois.zip")]


def test_images_without_annotation_are_left_out_with_a_warning(tmp_path, stardist_pair):
    image, truth = stardist_pair
    _image_folder(tmp_path, image)
    write_rois(tmp_path / "labels" / "b_rois.zip", truth)
    with pytest.warns(UserWarning, match=r"2 of 3 images in .* have no annotation .* left out: a.tif, c.tif"):
        pairs = find_pairs(tmp_path / "images", tmp_path / "labels")
    assert [i for i, _, _ in pairs] == ["b"]


def test_no_pair_at_all_explains_the_pairing_rule(tmp_path, stardist_pair):
    image, truth = stardist_pair
    _image_folder(tmp_path, image, ["cell1"])
    write_rois(tmp_path / "labels" / "RoiSet.zip", truth)  # Fiji's default name, not renamed
    with pytest.raises(ValueError) as error:
        find_pairs(tmp_path / "images", tmp_path / "labels")
    message = str(error.value)
    assert f"no image in {tmp_path / 'images'} has an annotation in {tmp_path / 'labels'}" in message
    assert "<name>_RoiSet.zip" in message and "rename it after its image" in message
    assert "Images: cell1.tif." in message and "RoiSet.zip" in message.split("Files in")[1]


def test_two_candidate_annotations_are_named(tmp_path, stardist_pair):
    image, truth = stardist_pair
    _image_folder(tmp_path, image, ["cell1"])
    tifffile.imwrite(tmp_path / "labels" / "cell1_labels.tif", truth)
    write_rois(tmp_path / "labels" / "cell1_RoiSet.zip", truth)  # corrected in Fiji beside the segmentation
    with pytest.raises(ValueError, match=f"{tmp_path / 'images' / 'cell1.tif'}: two annotation files match it: "
                                         f"{tmp_path / 'labels' / 'cell1_RoiSet.zip'} and "
                                         f"{tmp_path / 'labels' / 'cell1_labels.tif'}; keep one"):
        find_pairs(tmp_path / "images", tmp_path / "labels")


def test_an_ellipse_roi_is_its_polygon(tmp_path):
    # Fiji's ellipse tool (EllipseRoi) saves a freehand polygon of subtype ELLIPSE
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    xy = np.stack([32 + 20 * np.cos(t), 32 + 10 * np.sin(t)], axis=1).astype(np.float32)
    roi = roifile.ImagejRoi.frompoints(xy, name="ellipse")
    roi.subtype, (roi.x1, roi.y1, roi.x2, roi.y2) = roifile.ROI_SUBTYPE.ELLIPSE, (12.0, 32.0, 52.0, 32.0)
    got = read_annotation(write_roi_set(tmp_path / "a.zip", [roi]), (64, 64))
    assert got.max() == 1 and abs(np.count_nonzero(got) - np.pi * 20 * 10) < 0.05 * np.pi * 20 * 10
    rows, cols = np.nonzero(got)
    assert abs(rows.mean() + 0.5 - 32) < 0.5 and abs(cols.mean() + 0.5 - 32) < 0.5
