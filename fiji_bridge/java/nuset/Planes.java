package nuset;

import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.gui.Roi;
import ij.measure.Calibration;
import ij.plugin.Duplicator;
import ij.process.ColorProcessor;
import ij.process.ImageProcessor;

import java.util.List;

/**
 * What "NuSeT Segment" sends to Python and how the labels come back: the current plane of a 2-D image (RGB as
 * RGB, for colour models), or a whole hyperstack with Z slices and/or T frames (one channel of it) and its voxel
 * size; the labels get the input's Z and T, and each ROI the plane it outlines.
 */
final class Planes {
    private Planes() { }

    /** Whether the image has Z slices or T frames (segmented as a stack: 3-D nuclei, tracks). */
    static boolean isStack(ImagePlus imp) {
        return imp.getNSlices() > 1 || imp.getNFrames() > 1;
    }

    /**
     * The image to send: the current plane (2-D), or the hyperstack of one channel (Z and T kept).
     * {@code channel} is 1-based, as ImageJ counts channels; 0: the current channel (or, for an RGB image, the
     * colour image itself, for colour models). Returns null, with one "NuSeT error:" line in the Log, when the
     * channel does not exist or an RGB stack is given without one.
     */
    static ImagePlus toSend(ImagePlus imp, int channel) {
        boolean rgb = imp.getBitDepth() == 24;
        int channels = rgb ? 3 : imp.getNChannels();
        if (channel > channels) {
            String has = rgb ? "3 colour channels (RGB: 1 red, 2 green, 3 blue)"
                : channels + " channel" + (channels > 1 ? "s" : "");
            IJ.log("NuSeT error: channel=" + channel + ", but " + imp.getTitle() + " has " + has + "; give channel=1"
                + (channels > 1 ? " to " + channels : "") + ", or 0 for the current one");
            return null;
        }
        if (!isStack(imp)) {
            ImageProcessor ip = imp.getProcessor();  // the current plane: the current channel unless one is given
            if (!rgb && channel > 0 && imp.getNChannels() > 1)
                ip = imp.getStack().getProcessor(imp.getStackIndex(channel, imp.getZ(), imp.getT()));
            if (rgb && channel > 0)
                return new ImagePlus(imp.getTitle(), ((ColorProcessor) ip).getChannel(channel, null));
            return new ImagePlus(imp.getTitle(), ip.duplicate());  // RGB stays RGB: the model decides
        }
        if (rgb && channel == 0) {
            IJ.log("NuSeT error: " + imp.getTitle() + " is an RGB stack; NuSeT segments stacks of one channel: give "
                + "channel=1, 2 or 3 (red, green, blue), or convert it (Image > Type > 8-bit)");
            return null;
        }
        int c = rgb ? 1 : (channel > 0 ? channel : imp.getC());
        int slices = imp.getNSlices(), frames = imp.getNFrames();
        ImagePlus one = new Duplicator().run(imp, c, c, 1, slices, 1, frames);
        if (rgb) {
            ImageStack grey = new ImageStack(imp.getWidth(), imp.getHeight());
            for (int i = 1; i <= one.getStackSize(); i++)
                grey.addSlice(((ColorProcessor) one.getStack().getProcessor(i)).getChannel(channel, null));
            one.setStack(grey);
        }
        one.setTitle(imp.getTitle());
        one.setDimensions(1, slices, frames);
        one.setOpenAsHyperStack(true);
        return one;
    }

    /** The Python command's --voxel-size: voxel depth, pixel height, pixel width (the calibration's unit). */
    static String[] voxelSize(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        return new String[] {"--voxel-size", positive(cal.pixelDepth), positive(cal.pixelHeight),
            positive(cal.pixelWidth)};
    }

    private static String positive(double value) {
        return String.valueOf(value > 0 && !Double.isInfinite(value) ? value : 1.0);
    }

    /** The label stack as the input hyperstack: same Z and T (one channel), shown as a hyperstack. */
    static void shapeLike(ImagePlus labels, ImagePlus imp) {
        int slices = imp.getNSlices(), frames = imp.getNFrames();
        if (labels.getStackSize() != slices * frames) return;  // not ours to reshape
        labels.setDimensions(1, slices, frames);
        labels.setOpenAsHyperStack(slices > 1 && frames > 1);
    }

    /** The largest label of an image or stack. */
    static double maxLabel(ImagePlus labels) {
        double max = 0;
        ImageStack stack = labels.getStack();
        for (int i = 1; i <= stack.getSize(); i++) max = Math.max(max, stack.getProcessor(i).getStatistics().max);
        return max;
    }

    /**
     * ROIs of a stack (z and t from the RoiSet zip) positioned as ImageJ's own Roi.setPosition(imp) does, so that
     * the ROI Manager and the Overlay show each ROI on its plane: on a hyperstack setPosition(0, z, t) (channel 0:
     * every channel); on a plain stack (Z or T only, not shown as a hyperstack) its image number, setPosition(n).
     */
    static void position(List<Roi> rois, ImagePlus imp) {
        boolean plain = !imp.isHyperStack() && imp.getNChannels() == 1;
        for (Roi roi : rois) {
            int z = Math.max(1, roi.getZPosition()), t = Math.max(1, roi.getTPosition());
            if (plain) roi.setPosition(imp.getStackIndex(1, z, t));
            else roi.setPosition(0, z, t);
        }
    }
}
