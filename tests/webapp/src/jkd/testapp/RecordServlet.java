// jkd test webapp: records every request it serves in a file that outlives restarts,
// with whether the application read its body whole.
package jkd.testapp;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;

/**
 * `/record/list`: the records so far, one per line. Anything else under `/record/`: reads
 * the body and appends `<id> <method> <uri> length=<n> complete=<true|false>` to
 * `${catalina.base}/logs/jkd-records.txt` (`id` is the `id=` query value), then answers
 * `recorded <id> <n>`. `complete=false` means reading the body failed: the application
 * never took a cut body for a whole one.
 */
public final class RecordServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    private static Path file() {
        return Paths.get(System.getProperty("catalina.base"), "logs", "jkd-records.txt");
    }

    private static synchronized void append(String line) throws IOException {
        Files.write(file(), (line + "\n").getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.SYNC);
    }

    private static String idOf(HttpServletRequest req) {
        String q = req.getQueryString();
        if (q != null) {
            for (String pair : q.split("&")) {
                if (pair.startsWith("id=")) {
                    return pair.substring(3);
                }
            }
        }
        return "-";
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        if ("/list".equals(req.getPathInfo())) {
            byte[] all;
            synchronized (RecordServlet.class) {
                all = Files.exists(file()) ? Files.readAllBytes(file()) : new byte[0];
            }
            resp.setContentType("text/plain; charset=UTF-8");
            resp.setContentLength(all.length);
            resp.getOutputStream().write(all);
            return;
        }
        String id = idOf(req);
        long length = 0;
        byte[] buf = new byte[16384];
        try (InputStream in = req.getInputStream()) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                length += n;
            }
        } catch (IOException e) {
            append(id + " " + req.getMethod() + " " + req.getRequestURI() + " length=" + length + " complete=false");
            throw e;
        }
        append(id + " " + req.getMethod() + " " + req.getRequestURI() + " length=" + length + " complete=true");
        byte[] answer = ("recorded " + id + " " + length + "\n").getBytes(StandardCharsets.US_ASCII);
        resp.setContentType("text/plain; charset=UTF-8");
        resp.setContentLength(answer.length);
        resp.getOutputStream().write(answer);
    }
}
