// jkd test harness: starts Tomcat (org.apache.catalina.startup.Bootstrap) and exits when the test
// process that started it goes away, so an instance never outlives its test run.
package jkd.testapp;

import java.io.IOException;
import java.io.InputStream;

public final class Launcher {
    /** How long a graceful stop may take after stdin closed before the JVM is halted. */
    private static final long HALT_AFTER_MS = 15_000;

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        // The harness keeps our stdin pipe open for as long as it wants this JVM alive. The
        // pipe closes when the test process exits, however it exits (even by SIGKILL).
        Thread watchdog = new Thread(Launcher::watchStdin, "jkd-stdin-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        org.apache.catalina.startup.Bootstrap.main(args);
    }

    private static void watchStdin() {
        byte[] buf = new byte[256];
        try {
            InputStream in = System.in;
            while (in.read(buf) >= 0) {
                // Nothing is ever written; only EOF matters.
            }
        } catch (IOException e) {
            // Treated like EOF.
        }
        System.err.println("jkd launcher: stdin closed (the test process is gone); stopping Tomcat");
        Thread halt = new Thread(() -> {
            try {
                Thread.sleep(HALT_AFTER_MS);
            } catch (InterruptedException e) {
                return;
            }
            Runtime.getRuntime().halt(1);
        }, "jkd-halt");
        halt.setDaemon(true);
        halt.start();
        System.exit(0);
    }
}
