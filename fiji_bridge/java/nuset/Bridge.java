package nuset;

import ij.IJ;
import ij.Macro;
import ij.Prefs;
import ij.gui.GenericDialog;
import ij.gui.Roi;
import ij.io.RoiDecoder;
import ij.plugin.frame.Recorder;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** What the NuSeT commands share: their options, running the Python side, reading its answers. */
final class Bridge {
    static final String PREFS = "nuset.";
    static final String PYTHON_PREF = PREFS + "python";
    /** Written beside NuSeT_.jar by `nuset fiji install`: the Python that installed it. */
    static final String INSTALL_FILE = "NuSeT.properties";
    static final String DOCS = "docs/fiji.md in NuSeT's source, or <code>nuset fiji --help</code>";

    String python;
    /** The segmentation options (Options.java, generated from the engine's table) by name, as text. */
    final Map<String, String> values = new LinkedHashMap<String, String>();
    boolean addRois, keepRois, noWorker;
    String model = "";

    Bridge() {
        python = Prefs.get(PYTHON_PREF, "");
        if (python.length() == 0) python = defaultPython();
        for (int i = 0; i < Options.NAME.length; i++) values.put(Options.NAME[i], Options.DEFAULT[i]);
    }

    /** The Python without a choice of the user's: $NUSET_PYTHON, else the installer's, else python3. */
    static String defaultPython() {
        String env = System.getenv("NUSET_PYTHON");
        if (env != null && env.length() > 0) return env;
        String installed = installedPython();
        return installed != null ? installed : "python3";
    }

    /** The Python `nuset fiji install` recorded beside the jar, or null. */
    static String installedPython() {
        try {
            File jar = new File(Bridge.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            File file = new File(jar.getParentFile(), INSTALL_FILE);
            if (!file.isFile()) return null;
            Properties properties = new Properties();
            InputStream in = new FileInputStream(file);
            try { properties.load(in); } finally { in.close(); }
            String python = properties.getProperty("python", "").trim();
            return python.length() > 0 ? python : null;
        } catch (Exception e) {
            return null;
        }
    }

    /** The text value of option {@code name} ("" where none is given). */
    String value(String name) {
        return values.get(name);
    }

    /** The dialog opens with the settings of the last OK (macros start from the defaults, for reproducibility). */
    void recallDialogSettings() {
        for (int i = 0; i < Options.NAME.length; i++) {
            String saved = Prefs.get(PREFS + Options.NAME[i], null);
            if (saved == null) continue;
            try { values.put(Options.NAME[i], check(i, saved)); } catch (IllegalArgumentException stale) { /* default */ }
        }
        model = Prefs.get(PREFS + "model", model);
        addRois = Prefs.get(PREFS + "add_rois", addRois);
    }

    private void rememberDialogSettings() {
        for (Map.Entry<String, String> e : values.entrySet()) Prefs.set(PREFS + e.getKey(), e.getValue());
        Prefs.set(PREFS + "model", model);
        Prefs.set(PREFS + "add_rois", addRois);
        // a Python typed in the dialog is remembered; the default one is looked up afresh each time
        Prefs.set(PYTHON_PREF, python.equals(defaultPython()) ? "" : python);
        Prefs.savePreferences();
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
                if (given != null) values.put(Options.NAME[i], check(i, given));
            } else if (kind.equals("flag")) {
                values.put(Options.NAME[i], String.valueOf(flag(options, key) != invertedFlag(i)));
            } else if (given != null) {
                values.put(Options.NAME[i], check(i, given));
            }
        }
        addRois = flag(options, "add_rois");
        keepRois = flag(options, "keep_rois");
        noWorker = flag(options, "no_worker");
        return true;
    }

    /**
     * Whether option i is typed in a text field although it is a number: a number without a default of its
     * own (the model's: min_score), where an empty field means "the default" and 0 is a value of its own.
     */
    static boolean numberAsText(int i) {
        String kind = Options.KIND[i];
        return (kind.equals("number") || kind.equals("integer")) && Options.DEFAULT[i].length() == 0
            && !Options.ZERO_IS_DEFAULT[i];
    }

    /** A checkbox whose default is on is offered inverted (no_watershed): checked means off. */
    private static boolean invertedFlag(int i) {
        return Options.DEFAULT[i].equals("true");
    }

    void addFields(GenericDialog gd) {
        StringBuilder help = new StringBuilder("<html><h3>NuSeT Segment</h3><p>Finds nuclei and returns a label "
            + "image (one value per nucleus, 0 = background); with <b>add_rois</b> one ROI per nucleus too.</p><dl>");
        for (int i = 0; i < Options.NAME.length; i++) {
            String key = Options.KEY[i], kind = Options.KIND[i], v = values.get(Options.NAME[i]);
            if (numberAsText(i)) {
                gd.addStringField(key, v, 6);
                note(gd, Options.NOTE[i]);
            } else if (kind.equals("number") || kind.equals("integer")) {
                gd.addNumericField(key, v.length() == 0 ? 0 : Double.parseDouble(v), kind.equals("integer") ? 0 : 2, 6,
                    Options.NOTE[i]);
            } else if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
                gd.addChoice(key, Options.CHOICES[i], v);
                note(gd, Options.NOTE[i]);
            } else if (kind.equals("flag")) {
                gd.addCheckbox(key, v.equals(invertedFlag(i) ? "false" : "true"));
                note(gd, Options.NOTE[i]);
            } else {
                gd.addStringField(key, v, kind.equals("tile_size") ? 6 : 24);
                note(gd, Options.NOTE[i]);
            }
            help.append("<dt><b>").append(key).append("</b></dt><dd>").append(Options.HELP[i]).append("</dd>");
        }
        gd.addCheckbox("add_rois", addRois);
        note(gd, "one ROI per nucleus, named after the image");
        gd.addStringField("model", model, 24);
        note(gd, "empty = the shipped model");
        gd.addStringField("python", python, 24);
        note(gd, "the Python that has NuSeT");
        help.append("<dt><b>add_rois</b></dt><dd>Also one ROI per nucleus in the ROI Manager (named "
            + "&lt;image&gt;-0001...; a new run replaces that image's earlier NuSeT ROIs unless keep_rois).</dd>"
            + "<dt><b>model</b></dt><dd>A .nuset.pt file from <code>nuset train</code>; empty: the shipped model."
            + "</dd><dt><b>python</b></dt><dd>The Python that has NuSeT installed; <code>nuset fiji install</code> "
            + "sets it.</dd></dl><p>Documentation: " + DOCS + "</p></html>");
        gd.addHelp(help.toString());
        gd.setSmartRecording(true);
    }

    private static void note(GenericDialog gd, String text) {
        if (text.length() == 0) return;
        gd.addToSameRow();
        gd.addMessage(text);
    }

    /**
     * Read the dialog's fields, as ImageJ's own dialogs do: a field that is not a number or out of range is
     * refused (logged as one "NuSeT error:" line and thrown) before anything runs. The settings are
     * remembered for the next dialog, and the Macro Recorder gets only what differs from the defaults.
     */
    void readFields(GenericDialog gd) {
        try {
            int numbers = 0;  // numeric fields read so far: the typed text is quoted in errors
            for (int i = 0; i < Options.NAME.length; i++) {
                String kind = Options.KIND[i], name = Options.NAME[i];
                if (numberAsText(i)) {
                    values.put(name, check(i, gd.getNextString()));
                } else if (kind.equals("number") || kind.equals("integer")) {
                    java.awt.TextField field = (java.awt.TextField) gd.getNumericFields().get(numbers++);
                    gd.getNextNumber();
                    values.put(name, check(i, field.getText()));
                } else if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
                    values.put(name, gd.getNextChoice());
                } else if (kind.equals("flag")) {
                    values.put(name, String.valueOf(gd.getNextBoolean() != invertedFlag(i)));
                } else {
                    values.put(name, check(i, gd.getNextString()));
                }
            }
            addRois = gd.getNextBoolean();
            model = gd.getNextString().trim();
            python = gd.getNextString().trim();
        } catch (IllegalArgumentException e) {
            IJ.log("NuSeT error: " + e.getMessage());
            throw e;
        }
        rememberDialogSettings();
        record();
    }

    /** What the Macro Recorder writes: the options that differ from their defaults, so the macro runs elsewhere. */
    void record() {
        if (!Recorder.record) return;
        Recorder.resetCommandOptions();
        for (int i = 0; i < Options.NAME.length; i++) {
            String v = values.get(Options.NAME[i]);
            if (v.equals(Options.DEFAULT[i])) continue;
            if (Options.KIND[i].equals("flag") && Options.CHOICES[i].length == 0) Recorder.recordOption(Options.KEY[i]);
            else if (v.length() > 0) Recorder.recordOption(Options.KEY[i], v);
        }
        if (addRois) Recorder.recordOption("add_rois");
        if (model.length() > 0) Recorder.recordOption("model", model);
        if (!python.equals(defaultPython())) Recorder.recordOption("python", python);
    }

    /**
     * A value typed for option i, normalized, or an IllegalArgumentException that quotes what was typed and
     * says what is allowed (the ranges come from the engine's table).
     */
    static String check(int i, String value) {
        String kind = Options.KIND[i], key = Options.KEY[i], v = value.trim();
        if (v.length() == 0 && Options.DEFAULT[i].length() == 0) return "";  // none given: the Python side's default
        if (kind.equals("tile_size")) return tileSize(v);
        if (kind.equals("flag") && Options.CHOICES[i].length > 0) {
            for (String word : Options.CHOICES[i]) if (word.equals(v)) return word;
            throw new IllegalArgumentException("'" + key + "=" + v + "': use "
                + String.join(", ", Options.CHOICES[i]).replaceAll(", ([^,]*)$", " or $1"));
        }
        if (!kind.equals("number") && !kind.equals("integer")) return v;
        double number;
        try { number = Double.parseDouble(v); } catch (NumberFormatException e) { number = Double.NaN; }
        if (Double.isNaN(number) || Double.isInfinite(number))
            throw new IllegalArgumentException("'" + key + "=" + v + "' is not a number");
        // 0 stands for "none given" where the option has no default number (nucleus_diameter)
        if (number == 0 && Options.ZERO_IS_DEFAULT[i]) return "";
        double min = Options.MIN[i], max = Options.MAX[i];
        boolean below = !Double.isNaN(min) && (number < min || (Options.MIN_OPEN[i] && number == min));
        if (below || (!Double.isNaN(max) && number > max)) {
            String range = !Double.isNaN(max) ? "between " + plain(min) + " and " + plain(max)
                : (Options.MIN_OPEN[i] ? "more than " : "at least ") + plain(min);
            throw new IllegalArgumentException("'" + key + "=" + v + "': " + key + " must be " + range);
        }
        return kind.equals("integer") ? String.valueOf((long) number) : String.valueOf(number);
    }

    private static String plain(double number) {
        return number == Math.rint(number) ? String.valueOf((long) number) : String.valueOf(number);
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

    /** The arguments for the Python side: each option that differs from its default, as --name-with-dashes TEXT. */
    List<String> arguments(String... io) {
        List<String> args = new ArrayList<String>();
        for (String s : io) args.add(s);
        for (int i = 0; i < Options.NAME.length; i++) {
            String v = values.get(Options.NAME[i]);
            if (v.length() == 0 || v.equals(Options.DEFAULT[i])) continue;  // the Python side has the same defaults
            args.add("--" + Options.NAME[i].replace('_', '-'));
            args.add(v);
        }
        if (model.length() > 0) { args.add("--model"); args.add(model); }
        return args;
    }

    /** The command line of a one-off Python process. */
    List<String> command(String... io) {
        List<String> cmd = new ArrayList<String>();
        cmd.add(python);
        cmd.add("-m");
        cmd.add("fiji_bridge.command");
        cmd.addAll(arguments(io));
        return cmd;
    }

    /** Result of one Python run: its JSON lines, error lines and exit code. */
    static final class Result {
        final List<String> json = new ArrayList<String>();
        final List<String> errors = new ArrayList<String>();
        int exitCode = -1;
    }

    /**
     * Segment through the session's NuSeT worker (started on first use, kept for the next images), or,
     * with no_worker, in a Python process of its own.
     */
    Result segment(String... io) {
        if (noWorker) return run(command(io), false);
        Result result = Worker.request(python, arguments(io));
        for (String e : result.errors) IJ.log("NuSeT error: " + e);
        return result;
    }

    /** Run a one-off Python process; every problem ends up as a readable line in the ImageJ Log. */
    Result run(List<String> cmd, boolean echoProgress) {
        Result result = new Result();
        Process process;
        try {
            process = new ProcessBuilder(cmd).start();
            process.getOutputStream().close();  // nothing to read: a child waiting on stdin would hang
        } catch (IOException e) {
            String msg = cannotStart(python, e.getMessage());
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
                String msg = pythonFailed(python, result.exitCode, errBytes.toString("UTF-8"));
                result.errors.add(msg);
                IJ.log("NuSeT error: " + msg);
            }
        } catch (Exception e) {
            result.errors.add(e.toString());
            IJ.log("NuSeT error: " + e);
        }
        return result;
    }

    static String cannotStart(String python, String why) {
        return "cannot start the Python '" + python + "' (" + why + "). " + HOW_TO_SET_PYTHON;
    }

    static final String HOW_TO_SET_PYTHON = "Set the Python that has NuSeT installed: in the NuSeT Segment "
        + "dialog's python field, or python=/path/to/python in a macro (running `nuset fiji install <Fiji folder>` "
        + "from that Python sets it for you).";

    /** A failed Python run in a biologist's words: above all, a Python without NuSeT. */
    static String pythonFailed(String python, int exitCode, String stderr) {
        String tail = stderr.trim();
        String last = lastLine(tail);
        if (tail.contains("No module named") && (tail.contains("fiji_bridge") || tail.contains("nuset_engine")
                || tail.contains("torch") || tail.contains("click"))) {
            return "the Python '" + python + "' does not have NuSeT installed (" + last + "). " + HOW_TO_SET_PYTHON;
        }
        return "the Python side failed (exit code " + exitCode + "): " + last;
    }

    /** The last line of a process's stderr, trimmed ("" when it said nothing). */
    static String lastLine(String stderr) {
        String[] lines = stderr.trim().split("\n");
        return lines[lines.length - 1].trim();
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

    private static boolean flag(String options, String key) {
        return (" " + options + " ").contains(" " + key + " ");
    }

    static void copy(InputStream in, ByteArrayOutputStream out) {
        byte[] buf = new byte[8192];
        try { for (int k; (k = in.read(buf)) > 0; ) out.write(buf, 0, k); } catch (IOException ignored) { }
    }
}
