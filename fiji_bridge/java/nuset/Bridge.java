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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** What the NuSeT commands share: their options, running the Python side, reading its answers. */
final class Bridge {
    static final String PYTHON_PREF = "nuset.python";

    String python;
    /** The segmentation options (Options.java, generated from the engine's table) by name, as text. */
    final Map<String, String> values = new LinkedHashMap<String, String>();
    boolean addRois;
    String model = "";

    Bridge() {
        String env = System.getenv("NUSET_PYTHON");
        python = Prefs.get(PYTHON_PREF, env != null ? env : "python3");
        for (int i = 0; i < Options.NAME.length; i++) values.put(Options.NAME[i], Options.DEFAULT[i]);
    }

    /** The text value of option {@code name} ("" where none is given). */
    String value(String name) {
        return values.get(name);
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
        model = Macro.getValue(options, "model", model);
        for (int i = 0; i < Options.NAME.length; i++) {
            String key = Options.KEY[i], kind = Options.KIND[i];
            String given = Macro.getValue(options, key, null);
            if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
                // "single_pass" is the key of earlier releases for passes=one
                if (given == null && key.equals("passes") && flag(options, "single_pass")) given = "one";
                if (given != null) values.put(Options.NAME[i], choice(i, given));
            } else if (kind.equals("flag")) {
                boolean checked = flag(options, key);  // a checkbox: present or not
                boolean inverted = Options.DEFAULT[i].equals("true");
                values.put(Options.NAME[i], String.valueOf(checked != inverted));
            } else if (given != null) {
                values.put(Options.NAME[i], text(i, given));
            }
        }
        addRois = flag(options, "add_rois");
        Prefs.set(PYTHON_PREF, python);
        return true;
    }

    void addFields(GenericDialog gd) {
        StringBuilder help = new StringBuilder("<html><h3>NuSeT options</h3><dl>");
        for (int i = 0; i < Options.NAME.length; i++) {
            String key = Options.KEY[i], kind = Options.KIND[i], v = values.get(Options.NAME[i]);
            if (kind.equals("number") || kind.equals("integer")) {
                gd.addNumericField(key, v.length() == 0 ? 0 : Double.parseDouble(v), kind.equals("integer") ? 0 : 2, 6,
                    Options.NOTE[i]);
            } else if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
                gd.addChoice(key, Options.CHOICES[i], v);
            } else if (kind.equals("flag")) {
                gd.addCheckbox(key, v.equals(Options.DEFAULT[i].equals("true") ? "false" : "true"));
            } else {
                gd.addStringField(key, v, kind.equals("tile_size") ? 6 : 30);
                if (Options.NOTE[i].length() > 0) {
                    gd.addToSameRow();
                    gd.addMessage(Options.NOTE[i]);
                }
            }
            help.append("<dt><b>").append(key).append("</b></dt><dd>").append(Options.HELP[i]).append("</dd>");
        }
        gd.addCheckbox("add_rois", addRois);
        gd.addStringField("model", model, 30);
        gd.addStringField("python", python, 30);
        gd.addHelp(help.append("</dl></html>").toString());
    }

    /** Read the dialog's fields; a bad value is logged as a "NuSeT error:" line and thrown, as for macros. */
    void readFields(GenericDialog gd) {
        try {
            for (int i = 0; i < Options.NAME.length; i++) {
                String kind = Options.KIND[i], name = Options.NAME[i];
                if (kind.equals("number") || kind.equals("integer")) {
                    double number = gd.getNextNumber();
                    if (Double.isNaN(number)) throw new IllegalArgumentException("'" + Options.KEY[i] + "' is not a number");
                    values.put(name, text(i, String.valueOf(number)));
                } else if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
                    values.put(name, gd.getNextChoice());
                } else if (kind.equals("flag")) {
                    values.put(name, String.valueOf(gd.getNextBoolean() != Options.DEFAULT[i].equals("true")));
                } else {
                    values.put(name, gd.getNextString().trim());
                }
            }
            addRois = gd.getNextBoolean();
            model = gd.getNextString().trim();
            python = gd.getNextString().trim();
            Prefs.set(PYTHON_PREF, python);
            Prefs.savePreferences();
            for (int i = 0; i < Options.NAME.length; i++) values.put(Options.NAME[i], text(i, values.get(Options.NAME[i])));
        } catch (IllegalArgumentException e) {
            IJ.log("NuSeT error: " + e.getMessage());
            throw e;
        }
    }

    /** A value typed for option i, checked where Java can say at once what is wrong; the Python side checks ranges. */
    private static String text(int i, String value) {
        String kind = Options.KIND[i], key = Options.KEY[i], v = value.trim();
        if (v.length() == 0 && Options.DEFAULT[i].length() == 0) return "";  // none given: the Python side's default
        if (kind.equals("tile_size")) return tileSize(v);
        if (kind.equals("number") || kind.equals("integer")) {
            double number;
            try { number = Double.parseDouble(v); } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + key + "=" + v + "' is not a number");
            }
            // 0 stands for "none given" where the option has no default number (nucleus_diameter)
            if (number == 0 && Options.DEFAULT[i].length() == 0) return "";
            return kind.equals("integer") && number == Math.rint(number) ? String.valueOf((long) number) : String.valueOf(number);
        }
        return v;
    }

    private static String choice(int i, String value) {
        for (String word : Options.CHOICES[i]) if (word.equals(value)) return word;
        throw new IllegalArgumentException("'" + Options.KEY[i] + "=" + value + "': use "
            + String.join(", ", Options.CHOICES[i]).replaceAll(", ([^,]*)$", " or $1"));
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

    /** The Python command line: each option that differs from its default, as --name-with-dashes TEXT. */
    List<String> command(String... io) {
        List<String> cmd = new ArrayList<String>();
        cmd.add(python);
        cmd.add("-m");
        cmd.add("fiji_bridge.command");
        for (String s : io) cmd.add(s);
        for (int i = 0; i < Options.NAME.length; i++) {
            String v = values.get(Options.NAME[i]);
            if (v.length() == 0 || v.equals(Options.DEFAULT[i])) continue;  // the Python side has the same defaults
            cmd.add("--" + Options.NAME[i].replace('_', '-'));
            cmd.add(v);
        }
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
