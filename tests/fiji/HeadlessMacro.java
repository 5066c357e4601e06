import ij.IJ;
import ij.Menus;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Hashtable;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs an ImageJ macro in a headless JVM, the way headless Fiji runs them:
 *
 *   java -Djava.awt.headless=true -cp ij.jar:NuSeT_.jar:DIR HeadlessMacro macro.ijm ARGUMENT NuSeT_.jar
 *
 * The one departure from plain ImageJ 1.53t: its ij.Menus builds AWT menus to
 * learn the commands, which throws HeadlessException without a display (Fiji's
 * headless mode patches that). So the commands listed in the given plugin
 * jars' plugins.config are put into ImageJ's command table directly. The macro
 * interpreter, batch mode and the plugins are the real ImageJ; IJ.log goes to
 * stdout (there is no Log window).
 */
public class HeadlessMacro {
    public static void main(String[] args) throws Exception {
        Hashtable<String, String> commands = new Hashtable<String, String>();
        Pattern line = Pattern.compile("^\\s*[^#,]+,\\s*\"([^\"]+)\",\\s*(\\S+)\\s*$");
        for (int i = 2; i < args.length; i++) {
            JarFile jar = new JarFile(args[i]);
            try {
                BufferedReader config = new BufferedReader(new InputStreamReader(
                    jar.getInputStream(jar.getEntry("plugins.config")), StandardCharsets.UTF_8));
                for (String s; (s = config.readLine()) != null; ) {
                    Matcher m = line.matcher(s);
                    if (m.matches()) commands.put(m.group(1), m.group(2));
                }
            } finally {
                jar.close();
            }
        }
        Field table = Menus.class.getDeclaredField("pluginsTable");  // what Menus.getCommands() returns
        table.setAccessible(true);
        table.set(null, commands);
        String macro = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        String result = IJ.runMacro(macro, args.length > 1 ? args[1] : "");
        System.out.println("MACRO_DONE headless=" + java.awt.GraphicsEnvironment.isHeadless() + " result=" + result);
        System.exit(0);
    }
}
