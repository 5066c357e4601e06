package nuset;

import ij.IJ;
import ij.Macro;
import ij.gui.GenericDialog;
import ij.plugin.PlugIn;

import java.awt.GraphicsEnvironment;
import java.util.List;

/**
 * Plugins > NuSeT > NuSeT Segment Folder: every image of a folder in one
 * Python process (start-up and model loading paid once), writing
 * <name>_labels.tif (and <name>_rois.zip with add_rois) into the output folder.
 * Macro: run("NuSeT Segment Folder", "input=/data/in output=/data/out min_score=0.85");
 */
public class NuSeT_Segment_Folder implements PlugIn {
    public void run(String arg) {
        Bridge bridge = new Bridge();
        String options = Macro.getOptions();
        // Headless there is no dialog to show: the options must come from the macro call.
        if (options == null && GraphicsEnvironment.isHeadless()) options = "";
        String input, output;
        try {
            if (bridge.readMacroOptions(options)) {
                input = Macro.getValue(options, "input", "");
                output = Macro.getValue(options, "output", "");
            } else {
                bridge.recallDialogSettings();
                GenericDialog gd = new GenericDialog("NuSeT Segment Folder");
                gd.addDirectoryField("input", "");
                gd.addDirectoryField("output", "");
                bridge.addFields(gd);
                gd.showDialog();
                if (gd.wasCanceled()) return;
                input = gd.getNextString();
                output = gd.getNextString();
                bridge.readFields(gd);
                ij.plugin.frame.Recorder.recordOption("input", input);
                ij.plugin.frame.Recorder.recordOption("output", output);
            }
        } catch (IllegalArgumentException e) { return; }  // logged by the bridge
        if (input.length() == 0 || output.length() == 0) {
            IJ.log("NuSeT error: give input=<folder> and output=<folder>");
            return;
        }
        List<String> cmd = bridge.addRois
            ? bridge.command("--input-dir", input, "--output-dir", output, "--rois")
            : bridge.command("--input-dir", input, "--output-dir", output);
        long start = System.currentTimeMillis();
        Bridge.Result result = bridge.run(cmd, true);
        double seconds = (System.currentTimeMillis() - start) / 1000.0;
        IJ.log("NuSeT: " + result.json.size() + " images segmented, " + result.errors.size() + " failed, "
            + IJ.d2s(seconds, 1) + " s in all (" + IJ.d2s(seconds / Math.max(1, result.json.size()), 2)
            + " s per image)");
    }
}
