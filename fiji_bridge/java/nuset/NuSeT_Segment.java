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
import java.util.List;

/**
 * Plugins > NuSeT > NuSeT Segment: segments the current image with NuSeT and
 * opens the label image ("<title>-labels", one value per nucleus).
 * Macro: run("NuSeT Segment", "min_score=0.85 add_rois");
 * ROIs go to the ROI Manager; without a display (headless) to the image's
 * Overlay; with roi_zip=/path/RoiSet.zip to that file.
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
                gd.showDialog();
                if (gd.wasCanceled()) return;
                bridge.readFields(gd);
                roiZip = gd.getNextString().trim();
                if (roiZip.length() > 0) ij.plugin.frame.Recorder.recordOption("roi_zip", roiZip);
            } else {
                roiZip = Macro.getValue(options, "roi_zip", "").trim();
            }
        } catch (IllegalArgumentException e) {  // logged by the bridge
            if (!GraphicsEnvironment.isHeadless() && Interpreter.getInstance() == null) IJ.error("NuSeT", e.getMessage());
            return;
        }
        if (roiZip.length() > 0) bridge.addRois = true;
        File dir = null;
        try {
            dir = Files.createTempDirectory("nuset").toFile();
            File in = new File(dir, "input.tif"), out = new File(dir, "labels.tif"), rois = new File(dir, "rois.zip");
            ImagePlus plane = new ImagePlus(imp.getTitle(), imp.getProcessor().duplicate());
            IJ.saveAsTiff(plane, in.getPath());
            IJ.showStatus("NuSeT: segmenting " + imp.getTitle() + "...");
            Bridge.Result result = bridge.addRois
                ? bridge.segment("--input", in.getPath(), "--output", out.getPath(), "--rois", rois.getPath())
                : bridge.segment("--input", in.getPath(), "--output", out.getPath());
            if (result.exitCode != 0 || result.json.isEmpty()) {
                // one "NuSeT error:" line is in the Log; a dialog too for someone at the menu
                if (fromDialog && !GraphicsEnvironment.isHeadless() && Interpreter.getInstance() == null)
                    IJ.error("NuSeT", result.errors.isEmpty() ? "segmentation failed" : result.errors.get(0));
                return;
            }
            ImagePlus labels = openLabels(out);
            if (labels == null) return;  // logged
            labels.setTitle(Labels.uniqueTitle(imp.getShortTitle() + "-labels"));
            labels.setCalibration(imp.getCalibration().copy());
            Labels.colour(labels);
            IJ.log("NuSeT: " + Bridge.field(result.json.get(0), "nuclei") + " nuclei in " + imp.getTitle()
                + " (" + Bridge.field(result.json.get(0), "seconds") + " s)");
            if (bridge.addRois) {
                try {
                    if (roiZip.length() > 0) saveRois(rois, new File(roiZip));
                    else addRois(imp, Bridge.readRois(rois.getPath()), bridge.keepRois);
                } catch (IOException e) {  // the labels still open; say what happened to the ROIs
                    IJ.log("NuSeT error: the ROIs could not be " + (roiZip.length() > 0 ? "saved to '" + roiZip
                        + "'" : "read") + ": " + e.getMessage());
                }
            }
            labels.show();
            IJ.showStatus("NuSeT: " + Bridge.field(result.json.get(0), "nuclei") + " nuclei");
        } catch (RuntimeException e) {
            if (Macro.MACRO_CANCELED.equals(e.getMessage())) throw e;  // the user stopped the macro: ImageJ's own
            IJ.log("NuSeT error: " + e);
        } catch (Exception e) {
            IJ.log("NuSeT error: " + e);
        } finally {
            if (dir != null) { for (File f : dir.listFiles()) f.delete(); dir.delete(); }
        }
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
                    if (name != null && name.startsWith(prefix) && name.substring(prefix.length()).matches("\\d{4,}"))
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
