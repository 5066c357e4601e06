package nuset;  // Bridge is package-private

import ij.Prefs;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;

/**
 * Fills the commands' dialog the way a user would (under Xvfb; the dialog is built, not shown) and prints
 * what the command then reads from it, what the Macro Recorder records and the Python command line:
 *   java -cp ij.jar:NuSeT_.jar:DIR nuset.DialogFields TILE_SIZE [MIN_SCORE_TEXT]
 */
public class DialogFields {
    public static void main(String[] args) {
        Prefs.load(null, null);  // as ImageJ does at start-up: the user's IJ_Prefs.txt
        Bridge shown = new Bridge();
        shown.recallDialogSettings();
        System.out.println("SHOWN python=" + shown.python + " min_score=" + shown.value("min_score")
            + " add_rois=" + shown.addRois);
        shown.model = "/models/m.nuset.pt";
        shown.python = "/usr/bin/python3";
        GenericDialog gd = new GenericDialog("NuSeT Segment");
        shown.addFields(gd);
        gd.addStringField("roi_zip", "/out/RoiSet.zip", 30);  // as NuSeT Segment adds it after the shared fields
        field(gd, "tile_size").setText(args[0]);  // the user types a tile size
        if (args.length > 1) field(gd, "min_score").setText(args[1]);  // and a score
        Bridge read = new Bridge();
        Recorder.record = true;
        Recorder.setCommand("NuSeT Segment");
        try {
            read.readFields(gd);
        } catch (IllegalArgumentException e) {
            System.out.println("REFUSED");
            System.exit(0);
        }
        System.out.println("TILE " + read.value("tile_size") + " MODEL " + read.model + " PYTHON " + read.python
            + " ROI_ZIP " + gd.getNextString() + " MIN_SCORE " + read.value("min_score"));
        System.out.println("RECORDED " + Recorder.getCommandOptions());
        System.out.println("COMMAND " + String.join(" ", read.command("--input", "in.tif")));
        Prefs.savePreferences();
        System.exit(0);
    }

    /** The dialog's field of option NAME: its place among the text or the number fields, in the table's order. */
    static java.awt.TextField field(GenericDialog gd, String name) {
        int texts = 0, numbers = 0;
        for (int i = 0; i < Options.NAME.length; i++) {
            boolean text = Bridge.numberAsText(i) || Options.KIND[i].equals("tile_size")
                || Options.KIND[i].equals("folder");
            boolean number = !text && (Options.KIND[i].equals("number") || Options.KIND[i].equals("integer"));
            if (Options.NAME[i].equals(name))
                return (java.awt.TextField) (text ? gd.getStringFields().get(texts) : gd.getNumericFields().get(numbers));
            if (text) texts++;
            if (number) numbers++;
        }
        throw new IllegalArgumentException(name);
    }
}
