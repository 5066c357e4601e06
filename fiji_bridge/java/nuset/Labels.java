package nuset;

import ij.ImagePlus;
import ij.process.LUT;

import java.awt.Color;

/** How a label image is shown: each nucleus its own colour, the background black (as StarDist, MorphoLibJ, napari). */
final class Labels {
    private Labels() { }

    /** 256 colours: 0 black, then hues a golden-ratio step apart with alternating saturation and brightness. */
    static LUT lut() {
        byte[] r = new byte[256], g = new byte[256], b = new byte[256];
        for (int i = 1; i < 256; i++) {
            float hue = (float) ((i * 0.6180339887) % 1.0);
            float saturation = 0.55f + 0.45f * ((i % 3) / 2f);
            float brightness = 0.7f + 0.3f * (i % 2);
            int rgb = Color.HSBtoRGB(hue, saturation, brightness);
            r[i] = (byte) (rgb >> 16);
            g[i] = (byte) (rgb >> 8);
            b[i] = (byte) rgb;
        }
        return new LUT(r, g, b);
    }

    /** {@code name}, or name-2, name-3... when an open image (batch-mode ones included) has that title. */
    static String uniqueTitle(String name) {
        if (ij.WindowManager.getImage(name) == null) return name;
        for (int n = 2; ; n++) if (ij.WindowManager.getImage(name + "-" + n) == null) return name + "-" + n;
    }

    /**
     * The colour LUT, with a display range that gives labels 1-255 a colour each (above 255 labels the
     * range spans them all, so neighbouring ids may share a colour); the pixel values are not changed.
     */
    static void colour(ImagePlus labels) {
        double max = Planes.maxLabel(labels);  // over all planes of a label stack
        if (labels.getStackSize() > 1) labels.setLut(lut());  // every plane's colour model
        else labels.getProcessor().setLut(lut());
        labels.setDisplayRange(0, Math.max(255, max));
    }
}
