package nuset;

import ij.IJ;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * The NuSeT worker of this ImageJ session: one Python process
 * (python -m fiji_bridge.command --serve) that loads Python, torch and the model once and then segments
 * image after image, talking over its stdin and stdout (no network). It is started on first use, restarted
 * with a message when it died, replaced when another Python is chosen, and ends with ImageJ (its stdin
 * closes; a shutdown hook makes sure).
 */
final class Worker {
    private static Worker current;

    private final String python;
    private final Process process;
    private final BufferedWriter in;
    private final BufferedReader out;
    private final StringBuffer stderr = new StringBuffer();

    private Worker(String python) throws IOException {
        this.python = python;
        List<String> cmd = new ArrayList<String>();
        cmd.add(python);
        cmd.add("-m");
        cmd.add("fiji_bridge.command");
        cmd.add("--serve");
        process = new ProcessBuilder(cmd).start();
        in = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), "UTF-8"));
        out = new BufferedReader(new InputStreamReader(process.getInputStream(), "UTF-8"));
        final InputStream err = process.getErrorStream();
        Thread drain = new Thread(new Runnable() {  // keep the last of stderr, so the child never blocks on it
            public void run() {
                byte[] buf = new byte[8192];
                try {
                    for (int k; (k = err.read(buf)) > 0; ) {
                        stderr.append(new String(buf, 0, k, "UTF-8"));
                        if (stderr.length() > 20000) stderr.delete(0, stderr.length() - 10000);
                    }
                } catch (IOException ignored) { }
            }
        }, "NuSeT worker stderr");
        drain.setDaemon(true);
        drain.start();
    }

    /**
     * Send one request (the command's arguments) and collect its answer lines until "done". A worker that
     * has stopped (crashed, or killed) is replaced, with a line in the Log, and the request sent again once.
     */
    static synchronized Bridge.Result request(String python, List<String> args) {
        for (int attempt = 0; ; attempt++) {
            Bridge.Result result = new Bridge.Result();
            boolean restarted = false;
            if (current != null && (!current.python.equals(python) || !current.alive())) {
                restarted = !current.alive();
                current.stop();
                current = null;
            }
            if (current == null && !start(python, result)) return result;
            if (restarted) IJ.log("NuSeT: the NuSeT worker had stopped; a new one was started");
            IJ.showStatus("NuSeT: segmenting...");
            boolean answered = false;
            try {
                current.in.write(json(args));
                current.in.newLine();
                current.in.flush();
                for (String line; ; ) {
                    line = current.readLine();
                    if (line == null) break;
                    answered = true;
                    if (line.contains("\"done\": true")) {
                        result.exitCode = result.errors.isEmpty() ? 0 : 1;
                        IJ.showStatus("");
                        return result;
                    }
                    if (line.startsWith("{\"error\"")) result.errors.add(Bridge.field(line, "error"));
                    else if (line.startsWith("{")) result.json.add(line);
                }
            } catch (IOException broken) { /* the worker is gone: as end of output */ }
            String why = died();
            if (answered || attempt > 0) {  // it stopped while working on this image: say so, do not loop
                result.errors.add("the NuSeT worker (" + python + ") stopped" + why + ". It starts again on the next run.");
                return result;
            }
            IJ.log("NuSeT: the NuSeT worker had stopped" + why + "; a new one was started");
        }
    }

    /** Start the worker and wait for its "ready" line; false (with the reason in result) when it cannot run. */
    private static boolean start(String python, Bridge.Result result) {
        IJ.showStatus("NuSeT: starting Python (once per ImageJ session)...");
        try {
            current = new Worker(python);
        } catch (IOException e) {
            result.errors.add(Bridge.cannotStart(python, e.getMessage()));
            return false;
        }
        String ready = current.readLine();
        if (ready == null || !ready.contains("\"ready\"")) {
            result.errors.add(Bridge.pythonFailed(python, current.exitCode(), current.stderr.toString()));
            current.stop();
            current = null;
            return false;
        }
        return true;
    }

    /** Forget the stopped worker; what it said last on stderr, as ": ..." (or ""). */
    private static String died() {
        String last = Bridge.lastLine(current.stderr.toString());
        current.stop();
        current = null;
        return last.length() > 0 ? ": " + last : "";
    }

    private String readLine() {
        try { return out.readLine(); } catch (IOException e) { return null; }
    }

    private boolean alive() {
        try { process.exitValue(); return false; } catch (IllegalThreadStateException running) { return true; }
    }

    private int exitCode() {
        try { return process.waitFor(); } catch (InterruptedException e) { return -1; }
    }

    private void stop() {
        try { in.close(); } catch (IOException ignored) { }
        process.destroy();
    }

    /** {"args": [...]} with JSON string escapes. */
    static String json(List<String> args) {
        StringBuilder s = new StringBuilder("{\"args\": [");
        for (int i = 0; i < args.size(); i++) {
            if (i > 0) s.append(", ");
            s.append('"');
            for (char c : args.get(i).toCharArray()) {
                if (c == '"' || c == '\\') s.append('\\').append(c);
                else if (c < 0x20) s.append(String.format("\\u%04x", (int) c));
                else s.append(c);
            }
            s.append('"');
        }
        return s.append("]}").toString();
    }

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(new Runnable() {
            public void run() { synchronized (Worker.class) { if (current != null) current.stop(); } }
        }, "NuSeT worker shutdown"));
    }
}
