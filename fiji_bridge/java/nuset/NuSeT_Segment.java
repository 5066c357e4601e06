package nuset;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.io.FileInfo;
import ij.io.TiffDecoder;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import ij.plugin.frame.RoiManager;

import java.awt.GraphicsEnvironment;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Plugins > NuSeT > NuSeT Segment: segments the current image with NuSeT and
 * opens the label image ("<title>-labels", one value per nucleus).
 * Macro: run("NuSeT Segment", "min_score=0.85 add_rois");
 * ROIs go to the ROI Manager; without a display (headless) to the image's
 * Overlay; with roi_zip=/path/RoiSet.zip to that file.
 * An RGB image is sent as RGB (a colour model takes it, a gray one refuses it);
 * a hyperstack with Z slices and/or T frames is segmented whole (one channel:
 * channel=, 1-based) and comes back as a label hyperstack with the same Z and T,
 * its ROIs on their planes (see Planes).
 */
public class NuSeT_Segment implements PlugIn {
    public void run(String arg) {
        ImagePlus imp = WindowManager.getCurrentImage();
        if (imp == null) { IJ.log("NuSeT error: no image is open"); return; }
        Bridge bridge = new Bridge();
        String options = Macro.getOptions();
        // Headless there is no dialog to show: a plain run("NuSeT Segment") uses the defaults.
        if (options == null && GraphicsEnvironment.isHeadless()) options = "";
        String roiZip = "";
        int channel = 0;  // 1-based, as ImageJ counts; 0: the current channel (RGB: the colour image)
        boolean fromDialog;
        try {
            fromDialog = !bridge.readMacroOptions(options);
            if (fromDialog) {
                bridge.recallDialogSettings();
                GenericDialog gd = new GenericDialog("NuSeT Segment");
                bridge.addFields(gd);
                gd.addStringField("roi_zip", "", 24);
                gd.addToSameRow();
                gd.addMessage("empty = the ROI Manager");
                gd.addNumericField("channel", 0, 0, 6, "1 = the first; 0 = the current one (RGB: the colour image)");
                gd.showDialog();
                if (gd.wasCanceled()) return;
                bridge.readFields(gd);
                roiZip = gd.getNextString().trim();
                if (roiZip.length() > 0) ij.plugin.frame.Recorder.recordOption("roi_zip", roiZip);
                channel = channel(String.valueOf(gd.getNextNumber()));
                if (channel > 0) ij.plugin.frame.Recorder.recordOption("channel", String.valueOf(channel));
            } else {
                roiZip = Macro.getValue(options, "roi_zip", "").trim();
                channel = channel(Macro.getValue(options, "channel", "0"));
            }
        } catch (IllegalArgumentException e) {  // logged by the bridge
            if (!GraphicsEnvironment.isHeadless() && Interpreter.getInstance() == null) IJ.error("NuSeT", e.getMessage());
            return;
        }
        if (roiZip.length() > 0) bridge.addRois = true;
        File dir = null;
        try {
            ImagePlus sent = Planes.toSend(imp, channel);
            if (sent == null) return;  // logged
            boolean stack = Planes.isStack(imp);
            dir = Files.createTempDirectory("nuset").toFile();
            File in = new File(dir, "input.tif"), out = new File(dir, "labels.tif"), rois = new File(dir, "rois.zip");
            IJ.saveAsTiff(sent, in.getPath());
            IJ.showStatus("NuSeT: segmenting " + imp.getTitle() + "...");
            List<String> io = new ArrayList<String>(Arrays.asList("--input", in.getPath(), "--output", out.getPath()));
            if (bridge.addRois) io.addAll(Arrays.asList("--rois", rois.getPath()));
            if (stack) io.addAll(Arrays.asList(Planes.voxelSize(imp)));
            Bridge.Result result = bridge.segment(io.toArray(new String[0]));
            if (result.exitCode != 0 || result.json.isEmpty()) {
                // one "NuSeT error:" line is in the Log; a dialog too for someone at the menu
                if (fromDialog && !GraphicsEnvironment.isHeadless() && Interpreter.getInstance() == null)
                    IJ.error("NuSeT", result.errors.isEmpty() ? "segmentation failed" : result.errors.get(0));
                return;
            }
            ImagePlus labels = openLabels(out);
            if (labels == null) return;  // logged
            if (stack) Planes.shapeLike(labels, imp);
            labels.setTitle(Labels.uniqueTitle(imp.getShortTitle() + "-labels"));
            labels.setCalibration(imp.getCalibration().copy());
            Labels.colour(labels);
            String json = result.json.get(0);
            IJ.log("NuSeT: " + Bridge.field(json, "nuclei") + (imp.getNFrames() > 1 ? " tracks" : " nuclei") + " in "
                + imp.getTitle() + " (" + (stack ? stackSummary(imp) + "; " : "") + Bridge.field(json, "seconds")
                + " s)");
            if (bridge.addRois) {
                try {
                    if (roiZip.length() > 0) saveRois(rois, new File(roiZip));
                    else {
                        List<Roi> found = Bridge.readRois(rois.getPath());
                        if (stack) Planes.position(found, imp);
                        addRois(imp, found, bridge.keepRois);
                    }
                } catch (IOException e) {  // the labels still open; say what happened to the ROIs
                    IJ.log("NuSeT error: the ROIs could not be " + (roiZip.length() > 0 ? "saved to '" + roiZip
                        + "'" : "read") + ": " + e.getMessage());
                }
            }
            labels.show();
            IJ.showStatus("NuSeT: " + Bridge.field(json, "nuclei") + " nuclei");
        } catch (RuntimeException e) {
            if (Macro.MACRO_CANCELED.equals(e.getMessage())) throw e;  // the user stopped the macro: ImageJ's own
            IJ.log("NuSeT error: " + e);
        } catch (Exception e) {
            IJ.log("NuSeT error: " + e);
        } finally {
            if (dir != null) { for (File f : dir.listFiles()) f.delete(); dir.delete(); }
        }
    }

    /** "31 slices, nuclei joined in 3-D", "40 frames, labels = track ids", or both. */
    static String stackSummary(ImagePlus imp) {
        int slices = imp.getNSlices(), frames = imp.getNFrames();
        String z = slices > 1 ? slices + " slices, nuclei joined in 3-D" : "";
        String t = frames > 1 ? frames + " frames, labels = track ids" : "";
        return z + (z.length() > 0 && t.length() > 0 ? "; " : "") + t;
    }

    /** The channel typed (a whole number >= 0), or one "NuSeT error:" line and an IllegalArgumentException. */
    static int channel(String typed) {
        String v = typed.trim();
        try {
            double number = Double.parseDouble(v);
            if (number >= 0 && number == Math.rint(number) && number < Integer.MAX_VALUE) return (int) number;
        } catch (NumberFormatException e) { /* refused below */ }
        String message = "'channel=" + v + "': give a channel number (1 = the first) or 0 for the current channel";
        IJ.log("NuSeT error: " + message);
        throw new IllegalArgumentException(message);
    }

    /**
     * The label TIFF, read by ImageJ 1.x's own TIFF reader. What it cannot read (a tiled TIFF) is one
     * "NuSeT error:" line, not ImageJ's error dialog (which aborts the macro, and throws headless).
     */
    static ImagePlus openLabels(File file) {
        String reason = null;
        try {
            FileInfo[] info = new TiffDecoder(file.getParent() + File.separator, file.getName()).getTiffInfo();
            if (info == null || info.length == 0) reason = "not a TIFF ImageJ reads";
        } catch (IOException e) {
            reason = String.valueOf(e.getMessage()).replace('\n', ' ').trim();
        }
        ImagePlus labels = reason == null ? IJ.openImage(file.getPath()) : null;
        if (labels == null) {
            IJ.log("NuSeT error: ImageJ cannot open the label image from the Python side ("
                + (reason != null ? reason : "unreadable") + ")"
                + (reason != null && reason.contains("tiled") ? "; labels segmented in tiles come as a tiled TIFF: "
                    + "tile_size=0 avoids that" : ""));
        }
        return labels;
    }

    /** The RoiSet zip the Python side wrote (one polygon per nucleus, named 0001...), saved where asked. */
    static void saveRois(File written, File target) throws IOException {
        File parent = target.getAbsoluteFile().getParentFile();
        if (parent != null && !parent.isDirectory() && !parent.mkdirs())
            throw new IOException("cannot create the folder " + parent);
        Files.copy(written.toPath(), target.toPath(), StandardCopyOption.REPLACE_EXISTING);
        IJ.log("NuSeT: " + Bridge.readRois(target.getPath()).size() + " ROIs saved to " + target.getPath());
    }

    /**
     * Into the ROI Manager (the batch-mode one in batch macros), named after the image (img2d-0001...); the
     * image's ROIs from an earlier NuSeT run are replaced unless keep_rois. Without a display there is no ROI
     * Manager (even the batch-mode one is a window): the ROIs go on the image's Overlay, and the Log says so.
     */
    static void addRois(ImagePlus imp, List<Roi> rois, boolean keep) {
        String prefix = imp.getShortTitle() + "-";
        for (Roi roi : rois) roi.setName(prefix + roi.getName());
        RoiManager manager = null;
        if (!GraphicsEnvironment.isHeadless()) {
            manager = RoiManager.getInstance();
            if (manager == null && Interpreter.isBatchMode()) manager = Interpreter.getBatchModeRoiManager();
            if (manager == null) manager = RoiManager.getRoiManager();
        }
        if (manager != null) {
            if (!keep) {  // this image's ROIs of an earlier NuSeT run (delete with no selection would delete all)
                List<Integer> earlier = new java.util.ArrayList<Integer>();
                for (int i = 0; i < manager.getCount(); i++) {
                    String name = manager.getName(i);
                    if (name != null && name.startsWith(prefix)
                            && name.substring(prefix.length()).matches("\\d{4,}(-z\\d+)?(-t\\d+)?"))
                        earlier.add(i);
                }
                if (!earlier.isEmpty()) {
                    int[] indexes = new int[earlier.size()];
                    for (int k = 0; k < indexes.length; k++) indexes[k] = earlier.get(k);
                    manager.setSelectedIndexes(indexes);
                    manager.runCommand("Delete");
                }
            }
            for (Roi roi : rois) manager.addRoi(roi);
            return;
        }
        Overlay overlay = imp.getOverlay() != null ? imp.getOverlay() : new Overlay();
        for (Roi roi : rois) overlay.add(roi);
        imp.setOverlay(overlay);
        IJ.log("NuSeT warning: no display (headless), so no ROI Manager: the " + rois.size() + " ROIs are on the "
            + "Overlay of " + imp.getTitle() + " instead. Add roi_zip=/path/RoiSet.zip to save them as a file.");
    }
}
