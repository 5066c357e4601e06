"""NuSeT for Fiji/ImageJ users.

- :func:`segment` takes what a pyimagej user holds (an ImageJ2 ``Dataset``, an
  ``ImagePlus``, a numpy or xarray array with two spatial axes, whatever their
  names) and returns labels in that world: X/Y axes, the input's calibration,
  named ``<name>-labels``.
- :func:`segment_imageplus` segments the current plane of a plain ImageJ1
  ``ImagePlus`` through scyjava and ``ij.jar`` (no ImageJ2 needed).
- ROIs go to the ROI Manager, headless to the image's Overlay (with a
  warning), or to a RoiSet zip (``roi_zip=``).
- ``python -m fiji_bridge.command`` is what the Fiji command "NuSeT Segment"
  (Java source in ``fiji_bridge/java``) runs.

The Java side is only imported when a Java object is actually handled.
"""
from .imagej1 import imageplus_to_array, labels_to_imageplus, segment_imageplus
from .pyimagej import segment
from .rois import add_rois

__all__ = ["segment", "segment_imageplus", "add_rois", "imageplus_to_array", "labels_to_imageplus"]
