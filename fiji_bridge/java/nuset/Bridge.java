package nuset;

import ij.IJ;
import ij.Macro;
import ij.Prefs;
import ij.gui.GenericDialog;
import ij.io.RoiDecoder;
import ij.gui.Roi;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** What the NuSeT commands share: their options, running the Python side, reading its answers. */
final class Bridge {
    static final String PYTHON_PREF = "nuset.python";

    String python;
    double minScore = 0.85, nmsThreshold = 0.3, minSizeFraction = 0.2, nucleusDiameter = 0;
    /** "auto" (the Python side decides: tiles for large images), "0" (whole image) or a tile size in pixels. */
    String tileSize = "auto";
    /** Foreground-normalization pass: as the model was trained, or forced off / on. */
    static final String[] PASSES = {"as_trained", "one", "two"};
    String passes = PASSES[0];
    boolean noWatershed, addRois, augment;
    String model = "";

    Bridge() {
        String env = System.getenv("NUSET_PYTHON");
        python = Prefs.get(PYTHON_PREF, env != null ? env : "python3");
    }

    /**
     * Read options from a macro's run(..., "options"); false when there are none (use a dialog).
     * A bad value is logged as a "NuSeT error:" line and thrown; the commands catch it and stop.
     */
    boolean readMacroOptions(String options) {
        try {
            return parseMacroOptions(options);
        } catch (IllegalArgumentException e) {
            IJ.log("NuSeT error: " + e.getMessage());
            throw e;
        }
    }

    private boolean parseMacroOptions(String options) {
        if (options == null) return false;
        python = Macro.getValue(options, "python", python);
        minScore = number(options, "min_score", minScore);
        nmsThreshold = number(options, "nms_threshold", nmsThreshold);
        minSizeFraction = number(options, "min_size_fraction", minSizeFraction);
        nucleusDiameter = number(options, "nucleus_diameter", nucleusDiameter);
        tileSize = tileSize(Macro.getValue(options, "tile_size", tileSize));
        model = Macro.getValue(options, "model", model);
        noWatershed = flag(options, "no_watershed");
        passes = Macro.getValue(options, "passes", flag(options, "single_pass") ? "one" : passes);
        if (!java.util.Arrays.asList(PASSES).contains(passes))
            throw new IllegalArgumentException("'passes=" + passes + "': use as_trained, one or two");
        addRois = flag(options, "add_rois");
        augment = flag(options, "augment");
        Prefs.set(PYTHON_PREF, python);
        return true;
    }

    void addFields(GenericDialog gd) {
        gd.addNumericField("min_score", minScore, 2);
        gd.addNumericField("nms_threshold", nmsThreshold, 2);
        gd.addNumericField("min_size_fraction", minSizeFraction, 2);
        gd.addNumericField("nucleus_diameter", nucleusDiameter, 1, 6, "pixels (0 = automatic)");
        gd.addStringField("tile_size", tileSize, 6);
        gd.addToSameRow();
        gd.addMessage("auto, 0 = whole image, or pixels");
        gd.addCheckbox("no_watershed", noWatershed);
        gd.addCheckbox("add_rois", addRois);
        gd.addCheckbox("augment", augment);
        gd.addChoice("passes", PASSES, passes);
        gd.addStringField("model", model, 30);
        gd.addStringField("python", python, 30);
    }

    /** Read the dialog's fields; a bad value is logged as a "NuSeT error:" line and thrown, as for macros. */
    void readFields(GenericDialog gd) {
        minScore = gd.getNextNumber();
        nmsThreshold = gd.getNextNumber();
        minSizeFraction = gd.getNextNumber();
        nucleusDiameter = gd.getNextNumber();
        String tile = gd.getNextString().trim();
        noWatershed = gd.getNextBoolean();
        addRois = gd.getNextBoolean();
        augment = gd.getNextBoolean();
        passes = gd.getNextChoice();
        model = gd.getNextString().trim();
        python = gd.getNextString().trim();
        Prefs.set(PYTHON_PREF, python);
        Prefs.savePreferences();
        try {
            tileSize = tileSize(tile);
        } catch (IllegalArgumentException e) {
            IJ.log("NuSeT error: " + e.getMessage());
            throw e;
        }
    }

    /** "auto", or a whole number of pixels >= 0 ("0": whole image), normalized; anything else is refused. */
    static String tileSize(String value) {
        String v = value.trim();
        if (v.equalsIgnoreCase("auto")) return "auto";
        if (v.matches("\\d+(\\.0*)?")) {
            try { return String.valueOf(Integer.parseInt(v.replaceAll("\\..*", ""))); }
            catch (NumberFormatException tooLarge) { /* refused below */ }
        }
        throw new IllegalArgumentException("'tile_size=" + v + "': use auto (tiles for large images), "
            + "0 (the whole image at once) or a tile size in pixels");
    }

    List<String> command(String... io) {
        List<String> cmd = new ArrayList<String>();
        cmd.add(python);
        cmd.add("-m");
        cmd.add("fiji_bridge.command");
        for (String s : io) cmd.add(s);
        cmd.add("--min-score"); cmd.add(String.valueOf(minScore));
        cmd.add("--nms-threshold"); cmd.add(String.valueOf(nmsThreshold));
        cmd.add("--min-size-fraction"); cmd.add(String.valueOf(minSizeFraction));
        if (nucleusDiameter > 0) { cmd.add("--nucleus-diameter"); cmd.add(String.valueOf(nucleusDiameter)); }
        if (!tileSize.equals("auto")) { cmd.add("--tile-size"); cmd.add(tileSize); }  // auto: the Python default
        if (noWatershed) cmd.add("--no-watershed");
        if (augment) cmd.add("--augment");
        if (passes.equals("one")) cmd.add("--no-two-pass");
        else if (passes.equals("two")) cmd.add("--two-pass");
        if (model.length() > 0) { cmd.add("--model"); cmd.add(model); }
        return cmd;
    }

    /** Result of one Python run: its JSON lines (stdout), error lines (stderr) and exit code. */
    static final class Result {
        final List<String> json = new ArrayList<String>();
        final List<String> errors = new ArrayList<String>();
        int exitCode = -1;
    }

    /** Run the Python side; every problem ends up as a readable line in the ImageJ Log. */
    Result run(List<String> cmd, boolean echoProgress) {
        Result result = new Result();
        Process process;
        try {
            process = new ProcessBuilder(cmd).start();
        } catch (IOException e) {
            String msg = "cannot start Python '" + python + "' (" + e.getMessage() + "). Give the Python that has "
                + "NuSeT installed: run(\"NuSeT Segment\", \"python=/path/to/python\") or set it in the dialog.";
            result.errors.add(msg);
            IJ.log("NuSeT error: " + msg);
            return result;
        }
        try {
            final InputStream err = process.getErrorStream();
            final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
            Thread drain = new Thread(new Runnable() {  // read stderr concurrently so the child never blocks
                public void run() { copy(err, errBytes); }
            });
            drain.start();
            java.io.BufferedReader out = new java.io.BufferedReader(
                new java.io.InputStreamReader(process.getInputStream(), "UTF-8"));
            for (String line; (line = out.readLine()) != null; ) {
                if (line.startsWith("{")) {
                    result.json.add(line);
                    if (echoProgress) IJ.log("NuSeT: " + field(line, "image") + ": " + field(line, "nuclei") + " nuclei");
                }
            }
            result.exitCode = process.waitFor();
            drain.join();
            for (String line : errBytes.toString("UTF-8").split("\n")) {
                if (line.startsWith("NuSeT error:")) { result.errors.add(line.substring(12).trim()); IJ.log(line); }
            }
            if (result.exitCode != 0 && result.errors.isEmpty()) {
                String tail = errBytes.toString("UTF-8").trim();
                String[] lines = tail.split("\n");
                String last = lines.length > 0 ? lines[lines.length - 1] : "";
                String msg = "the Python side failed (exit code " + result.exitCode + "): " + last
                    + (last.contains("No module named") ? " -- is NuSeT installed in '" + python + "'?" : "");
                result.errors.add(msg);
                IJ.log("NuSeT error: " + msg);
            }
        } catch (Exception e) {
            result.errors.add(e.toString());
            IJ.log("NuSeT error: " + e);
        }
        return result;
    }

    static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|[^,}]+)").matcher(json);
        if (!m.find()) return null;
        String s = m.group(2) != null ? m.group(2) : m.group(1).trim();
        return s.replace("\\\\", "\\").replace("\\\"", "\"");
    }

    static List<Roi> readRois(String zipPath) throws IOException {
        List<Roi> rois = new ArrayList<Roi>();
        ZipFile zip = new ZipFile(new File(zipPath));
        try {
            for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
                ZipEntry entry = e.nextElement();
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                copy(zip.getInputStream(entry), bytes);
                Roi roi = RoiDecoder.openFromByteArray(bytes.toByteArray());
                if (roi != null) rois.add(roi);
            }
        } finally {
            zip.close();
        }
        return rois;
    }

    private static double number(String options, String key, double fallback) {
        String v = Macro.getValue(options, key, null);
        if (v == null) return fallback;
        try { return Double.parseDouble(v); } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + key + "=" + v + "' is not a number");
        }
    }

    private static boolean flag(String options, String key) {
        return (" " + options + " ").contains(" " + key + " ");
    }

    private static void copy(InputStream in, ByteArrayOutputStream out) {
        byte[] buf = new byte[8192];
        try { for (int k; (k = in.read(buf)) > 0; ) out.write(buf, 0, k); } catch (IOException ignored) { }
    }
}
