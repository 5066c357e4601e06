"""NuSeT for Fiji/ImageJ users.

- :func:`segment` takes what a pyimagej user holds (an ImageJ2 ``Dataset``, an
  ``ImagePlus``, a numpy or xarray array with two spatial axes, whatever their
  names, and Z/time axes for stacks) and returns labels in that world: the
  same axes, the input's calibration, named ``<name>-labels``. RGB images go
  whole to colour models (a gray model refuses them, naming the choices).
- :func:`segment_imageplus` segments a plain ImageJ1 ``ImagePlus`` (its
  current plane, or a hyperstack with Z/T whole) through scyjava and
  ``ij.jar`` (no ImageJ2 needed).
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
