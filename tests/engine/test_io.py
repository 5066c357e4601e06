"""Reading planes (whole, or region by region) by the file's own axes, and
writing tiled label TIFFs."""
import numpy as np
import pytest
import tifffile

from nuset_engine.io import open_plane, read_image, read_plane, to_grayscale, write_labels

FIJI = "Fiji: Image > Stacks > Tools > Make Substack..."


@pytest.mark.parametrize("tiled", [True, False])
def test_lazy_plane_reads_regions_of_2d_tiffs(tmp_path, tiled):
    image = np.random.default_rng(0).integers(0, 4000, (300, 520), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", image, tile=(128, 128) if tiled else None)
    plane = open_plane(tmp_path / "a.tif")
    assert plane.shape == image.shape and plane.dtype == np.uint16
    assert np.array_equal(plane[37:290, 100:517], image[37:290, 100:517])
    assert np.array_equal(np.asarray(plane), image)


def test_lazy_plane_channels_match_to_grayscale(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert np.allclose(open_plane(tmp_path / "rgb.tif")[5:60, 3:70], to_grayscale(rgb)[5:60, 3:70])
    assert np.array_equal(open_plane(tmp_path / "rgb.tif", channel=2)[:, :], rgb[..., 2])
    stack = np.random.default_rng(2).integers(0, 255, (3, 64, 80), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "chw.tif", stack, photometric="minisblack")  # axes QYX: meaning not recorded
    assert np.array_equal(open_plane(tmp_path / "chw.tif", channel=1)[10:20, :], stack[1, 10:20])
    unknown = (f"{tmp_path / 'chw.tif'}: 3-channel image of shape (3, 64, 80), taking its first axis as channels, "
               "but the file does not record its meaning (axes QYX); choose one channel, or, if the 3 planes are "
               f"Z slices or time points, save one plane ({FIJI})")
    for read in (open_plane, read_plane):
        with pytest.raises(ValueError) as info:
            read(tmp_path / "chw.tif")
        assert str(info.value) == unknown
    with pytest.raises(ValueError, match="channel 5 requested"):
        open_plane(tmp_path / "chw.tif", channel=5)


def test_lazy_plane_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_plane(tmp_path / "missing.tif")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        open_plane(tmp_path / "empty.tif")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(ValueError, match="junk.tif: cannot read"):
        open_plane(tmp_path / "junk.tif")
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((4, 5, 30, 30), np.uint8))
    with pytest.raises(ValueError, match=r"not a single 2-D plane and the file does not record the meaning of its "
                                         r"other axes \(axes QQYX\)"):
        open_plane(tmp_path / "stack.tif")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="only TIFF"):
        open_plane(tmp_path / "a.png")


def hyperstack(path, axes, shape=(3, 512, 512), **kwargs):
    """An ImageJ hyperstack (or with ome=True an OME-TIFF) of random planes."""
    data = np.random.default_rng(4).integers(0, 4000, shape, dtype=np.uint16)
    tifffile.imwrite(path, data, metadata={"axes": axes}, **({"imagej": True} | kwargs))
    return data


def refusals(path, channel=None):
    """The errors of every way a file is read into a plane."""
    messages = []
    for read in (lambda: read_plane(path, channel), lambda: open_plane(path, channel),
                 lambda: to_grayscale(read_image(path), channel, source=str(path))):
        with pytest.raises(ValueError) as info:
            read()
        messages.append(str(info.value))
    return messages


@pytest.mark.parametrize("axes, what", [("ZYX", "a Z-stack"), ("TYX", "a time series")])
@pytest.mark.parametrize("channel", [None, 1])
def test_imagej_stacks_are_refused_naming_their_axes(tmp_path, axes, what, channel):
    # a 3-plane stack used to be taken for 3 channels, and --channel 1 segmented its second Z plane or time point
    path = tmp_path / "stack.tif"
    hyperstack(path, axes)
    expected = (f"{path}: {what} (axes {axes}, 3x512x512); NuSeT segments single 2-D planes: save one plane "
                f"({FIJI}), or one file per plane")
    assert refusals(path, channel) == [expected] * 3


def test_an_ome_tiff_z_stack_is_refused_naming_z(tmp_path):
    path = tmp_path / "stack.ome.tif"
    hyperstack(path, "ZYX", imagej=False, ome=True)
    assert all(m.startswith(f"{path}: a Z-stack (axes ZYX, 3x512x512); ") for m in refusals(path))


def test_a_hyperstack_with_time_and_z_names_both(tmp_path):
    path = tmp_path / "tzc.tif"
    hyperstack(path, "TZCYX", (2, 3, 2, 64, 64))
    assert all(m.startswith(f"{path}: a time series and a Z-stack (axes TZCYX, 2x3x2x64x64); ")
               for m in refusals(path, channel=0))


def test_a_stack_is_refused_before_its_pixels_are_read(tmp_path, monkeypatch):
    path = tmp_path / "stack.tif"
    hyperstack(path, "ZYX")

    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels read")

    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_pixels)
    with pytest.raises(ValueError, match="a Z-stack"):
        read_image(path)


@pytest.mark.parametrize("n_channels", [3, 12])
def test_a_channel_of_an_imagej_hyperstack_is_selected(tmp_path, n_channels):
    path = tmp_path / "cyx.tif"
    data = hyperstack(path, "CYX", (n_channels, 512, 512))
    assert np.array_equal(read_plane(path, channel=1), data[1])
    assert np.array_equal(to_grayscale(read_image(path), 1), data[1])
    assert np.array_equal(open_plane(path, channel=n_channels - 1)[100:300, 7:500], data[-1, 100:300, 7:500])
    for read in (read_plane, open_plane):
        with pytest.raises(ValueError) as info:
            read(path)
        assert str(info.value) == (f"{path}: {n_channels}-channel image of shape ({n_channels}, 512, 512) "
                                   "(axes CYX); choose one channel")
        with pytest.raises(ValueError, match=f"channel {n_channels} requested but the image has {n_channels} "
                                             "channels"):
            read(path, n_channels)


def test_a_single_plane_z_stack_reads_as_a_2d_image(tmp_path):
    path = tmp_path / "z1.tif"
    data = hyperstack(path, "ZYX", (1, 512, 512))
    assert np.array_equal(read_image(path), data[0])
    assert np.array_equal(read_plane(path), data[0])
    assert np.array_equal(read_plane(path, channel=0), data[0])
    plane = open_plane(path)
    assert plane.shape == (512, 512) and np.array_equal(plane[50:400, :], data[0, 50:400])


@pytest.mark.parametrize("imagej", [False, True])
def test_rgb_tiffs_read_as_before(tmp_path, imagej):
    rgb = np.random.default_rng(5).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb", imagej=imagej)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "YXS"
    luminance = rgb.astype(np.float32) @ np.array([0.2989, 0.5870, 0.1140], np.float32)
    assert np.allclose(read_plane(path), luminance) and read_plane(path).dtype == np.float32
    assert np.allclose(open_plane(path)[:, :], luminance)
    assert np.array_equal(read_plane(path, 2), rgb[..., 2])
    assert np.array_equal(open_plane(path, 0)[3:40, 5:60], rgb[3:40, 5:60, 0])


def test_arrays_without_axes_are_read_by_their_shape_and_said_to_be_unknown():
    stack = np.random.default_rng(6).integers(0, 255, (3, 64, 80), dtype=np.uint8)
    assert np.array_equal(to_grayscale(stack, 2), stack[2])
    assert np.array_equal(to_grayscale(stack[:, :, :, None], 2), stack[2])  # singleton axes dropped
    with pytest.raises(ValueError) as info:
        to_grayscale(stack, source="a.npy")
    assert str(info.value) == ("a.npy: 3-channel image of shape (3, 64, 80), taking its first axis as channels, but "
                               "its meaning is unknown; choose one channel, or, if the 3 planes are Z slices or time "
                               f"points, save one plane ({FIJI})")
    # the same array with its axes known
    assert np.array_equal(to_grayscale(stack, 1, axes="CYX"), stack[1])
    with pytest.raises(ValueError, match=r"a.npy: a Z-stack \(axes ZYX, 3x64x80\)"):
        to_grayscale(stack, 1, source="a.npy", axes="ZYX")
    with pytest.raises(ValueError, match=r"axes 'YX' given for an image of 3 dimensions \(3, 64, 80\)"):
        to_grayscale(stack, axes="YX")


@pytest.mark.parametrize("max_label,dtype", [(60000, np.uint16), (70000, np.uint32)])
def test_tiled_label_tiff_round_trip(tmp_path, max_label, dtype):
    labels = np.random.default_rng(3).integers(0, max_label, (700, 1000)).astype(np.uint32)
    labels[0, 0] = max_label
    path = write_labels(tmp_path / "l.tif", labels, tile=256)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].dtype == dtype
        assert np.array_equal(tif.pages[0].asarray(), labels)
    with pytest.raises(FileExistsError):
        write_labels(path, labels, tile=256)
    assert [p.name for p in tmp_path.iterdir()] == ["l.tif"]
