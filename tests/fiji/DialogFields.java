package nuset;  // Bridge is package-private

import ij.gui.GenericDialog;

/**
 * Fills the commands' dialog the way a user would (under Xvfb; the dialog is built, not shown) and prints
 * what the command then reads from it, and the Python command line it builds:
 *   java -cp ij.jar:NuSeT_.jar:DIR nuset.DialogFields TILE_SIZE
 */
public class DialogFields {
    public static void main(String[] args) {
        Bridge shown = new Bridge();
        shown.model = "/models/m.nuset.pt";
        shown.python = "/usr/bin/python3";
        GenericDialog gd = new GenericDialog("NuSeT Segment");
        shown.addFields(gd);
        gd.addStringField("roi_zip", "/out/RoiSet.zip", 30);  // as NuSeT Segment adds it after the shared fields
        ((java.awt.TextField) gd.getStringFields().get(0)).setText(args[0]);  // the user types a tile size
        Bridge read = new Bridge();
        try {
            read.readFields(gd);
        } catch (IllegalArgumentException e) {
            System.out.println("REFUSED");
            System.exit(0);
        }
        System.out.println("TILE " + read.value("tile_size") + " MODEL " + read.model + " PYTHON " + read.python
            + " ROI_ZIP " + gd.getNextString() + " MIN_SCORE " + read.value("min_score"));
        System.out.println("COMMAND " + String.join(" ", read.command("--input", "in.tif")));
        System.exit(0);
    }
}
