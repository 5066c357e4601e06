"""Reading planes region by region and writing tiled label TIFFs."""
import numpy as np
import pytest
import tifffile

from nuset_engine.io import open_plane, to_grayscale, write_labels


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
    tifffile.imwrite(tmp_path / "chw.tif", stack, photometric="minisblack")
    assert np.array_equal(open_plane(tmp_path / "chw.tif", channel=1)[10:20, :], stack[1, 10:20])
    with pytest.raises(ValueError, match="choose one channel"):
        open_plane(tmp_path / "chw.tif")
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
    with pytest.raises(ValueError, match="not a single 2-D plane"):
        open_plane(tmp_path / "stack.tif")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="only TIFF"):
        open_plane(tmp_path / "a.png")


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
