package nuset;

import ij.IJ;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.plugin.PlugIn;
import ij.plugin.frame.RoiManager;

import java.awt.GraphicsEnvironment;
import java.io.File;
import java.nio.file.Files;
import java.util.List;

/**
 * Plugins > NuSeT > NuSeT Segment: segments the current image with NuSeT and
 * opens the label image ("<title>-labels", one value per nucleus).
 * Macro: run("NuSeT Segment", "min_score=0.85 add_rois");
 */
public class NuSeT_Segment implements PlugIn {
    public void run(String arg) {
        ImagePlus imp = WindowManager.getCurrentImage();
        if (imp == null) { IJ.log("NuSeT error: no image is open"); return; }
        Bridge bridge = new Bridge();
        boolean fromMacro;
        try { fromMacro = bridge.readMacroOptions(Macro.getOptions()); }
        catch (IllegalArgumentException e) { return; }  // logged by the bridge
        if (!fromMacro) {
            GenericDialog gd = new GenericDialog("NuSeT Segment");
            bridge.addFields(gd);
            gd.showDialog();
            if (gd.wasCanceled()) return;
            bridge.readFields(gd);
        }
        File dir = null;
        try {
            dir = Files.createTempDirectory("nuset").toFile();
            File in = new File(dir, "input.tif"), out = new File(dir, "labels.tif"), rois = new File(dir, "rois.zip");
            ImagePlus plane = new ImagePlus(imp.getTitle(), imp.getProcessor().duplicate());
            IJ.saveAsTiff(plane, in.getPath());
            List<String> cmd = bridge.addRois
                ? bridge.command("--input", in.getPath(), "--output", out.getPath(), "--rois", rois.getPath())
                : bridge.command("--input", in.getPath(), "--output", out.getPath());
            Bridge.Result result = bridge.run(cmd, false);
            if (result.exitCode != 0 || result.json.isEmpty()) {
                if (!Interpreter.isBatchMode() && Macro.getOptions() == null)
                    IJ.error("NuSeT", result.errors.isEmpty() ? "segmentation failed" : result.errors.get(0));
                return;
            }
            ImagePlus labels = IJ.openImage(out.getPath());
            labels.setTitle(imp.getShortTitle() + "-labels");
            labels.setCalibration(imp.getCalibration().copy());
            IJ.log("NuSeT: " + Bridge.field(result.json.get(0), "nuclei") + " nuclei in " + imp.getTitle()
                + " (" + Bridge.field(result.json.get(0), "seconds") + " s)");
            if (bridge.addRois) addRois(imp, Bridge.readRois(rois.getPath()));
            labels.show();
        } catch (Exception e) {
            IJ.log("NuSeT error: " + e);
        } finally {
            if (dir != null) { for (File f : dir.listFiles()) f.delete(); dir.delete(); }
        }
    }

    /** Into the ROI Manager (the batch-mode one in batch macros); on the image's Overlay without one. */
    static void addRois(ImagePlus imp, List<Roi> rois) {
        RoiManager manager = null;
        if (Interpreter.isBatchMode()) manager = Interpreter.getBatchModeRoiManager();
        else if (!GraphicsEnvironment.isHeadless()) manager = RoiManager.getRoiManager();
        if (manager != null) {
            for (Roi roi : rois) manager.addRoi(roi);
            return;
        }
        Overlay overlay = imp.getOverlay() != null ? imp.getOverlay() : new Overlay();
        for (Roi roi : rois) overlay.add(roi);
        imp.setOverlay(overlay);
    }
}
