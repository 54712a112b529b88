// jkd test webapp: a session counter for stickiness and failover tests.
// GET /session answers `node=<jvmRoute> count=<n> id=<session id>`; `?invalidate=1` ends the session.
package jkd.testapp;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

public final class SessionServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain; charset=UTF-8");
        String text;
        if ("invalidate=1".equals(req.getQueryString())) {
            HttpSession old = req.getSession(false);
            if (old != null) {
                old.invalidate();
            }
            text = "node=" + node(null) + " invalidated=" + (old != null) + "\n";
        } else {
            HttpSession session = req.getSession(true);
            int count;
            // The lock only keeps the counter exact under concurrent requests.
            synchronized (this) {
                Integer old = (Integer) session.getAttribute("count");
                count = old == null ? 1 : old + 1;
                session.setAttribute("count", count);
            }
            text = "node=" + node(session.getId()) + " count=" + count + " id=" + session.getId() + "\n";
        }
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }

    /** The jvmRoute system property the harness sets, else the route suffix of the session id, else "-". */
    private static String node(String sessionId) {
        String route = System.getProperty("jvmRoute");
        if (route != null) {
            return route;
        }
        if (sessionId != null && sessionId.indexOf('.') >= 0) {
            return sessionId.substring(sessionId.indexOf('.') + 1);
        }
        return "-";
    }
}
