// jkd test webapp: echoes what Tomcat saw of a request, one `key: value` per line.
// The output format and the query controls are documented in tests/webapp/README.md.
package jkd.testapp;

import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

public final class EchoServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** Longest `sleep=` honoured, in milliseconds. */
    static final long MAX_SLEEP_MS = 60_000;

    /** Attributes asked for by name because Tomcat computes some of them lazily. */
    private static final String[] KNOWN_ATTRIBUTES = {
        "jakarta.servlet.request.X509Certificate",
        "jakarta.servlet.request.cipher_suite",
        "jakarta.servlet.request.key_size",
        "jakarta.servlet.request.ssl_session_id",
        "jakarta.servlet.request.secure_protocol",
        "org.apache.tomcat.util.net.secure_protocol_version",
        "AJP_LOCAL_ADDR",
        "AJP_REMOTE_PORT",
        "AJP_SSL_PROTOCOL",
        "JK_LB_ACTIVATION",
    };

    /** Query controls, read from the raw query string so that the body is never consumed as form data. */
    private static final class Controls {
        int status = -1;
        int sendError = -1;
        long size = -1;
        int chunk = 8192;
        long sleepMs = 0;
        boolean flush;
        boolean noLength;
        boolean readBody = true;
        final List<String[]> headers = new ArrayList<>();
        String error;

        static Controls parse(String query) {
            Controls c = new Controls();
            if (query == null) {
                return c;
            }
            for (String pair : query.split("&")) {
                int eq = pair.indexOf('=');
                String key = eq < 0 ? pair : pair.substring(0, eq);
                String value;
                try {
                    value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    c.error = "bad percent-encoding in " + key;
                    return c;
                }
                try {
                    switch (key) {
                        case "status":
                            c.status = Integer.parseInt(value);
                            if (c.status < 100 || c.status > 599) {
                                c.error = "status must be 100..599";
                            }
                            break;
                        case "senderror":
                            c.sendError = Integer.parseInt(value);
                            if (c.sendError < 400 || c.sendError > 599) {
                                c.error = "senderror must be 400..599";
                            }
                            break;
                        case "size":
                            c.size = Long.parseLong(value);
                            if (c.size < 0) {
                                c.error = "size must be >= 0";
                            }
                            break;
                        case "chunk":
                            c.chunk = Integer.parseInt(value);
                            if (c.chunk < 1 || c.chunk > 1 << 20) {
                                c.error = "chunk must be 1..1048576";
                            }
                            break;
                        case "sleep":
                            c.sleepMs = Math.max(0, Math.min(MAX_SLEEP_MS, Long.parseLong(value)));
                            break;
                        case "flush":
                            c.flush = value.equals("1");
                            break;
                        case "nolength":
                            c.noLength = value.equals("1");
                            break;
                        case "read":
                            c.readBody = !value.equals("0");
                            break;
                        case "header":
                            int colon = value.indexOf(':');
                            if (colon <= 0) {
                                c.error = "header must be Name:Value";
                            } else {
                                c.headers.add(new String[] {value.substring(0, colon), value.substring(colon + 1)});
                            }
                            break;
                        default:
                            break;
                    }
                } catch (NumberFormatException e) {
                    c.error = "bad number for " + key;
                }
                if (c.error != null) {
                    return c;
                }
            }
            if (c.sendError > 0 && c.flush) {
                c.error = "senderror cannot be combined with flush";
            }
            return c;
        }
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
        Controls c = Controls.parse(req.getQueryString());
        if (c.error != null) {
            resp.setStatus(400);
            resp.setContentType("text/plain; charset=UTF-8");
            resp.getOutputStream().write(("bad echo control: " + c.error + "\n").getBytes(StandardCharsets.UTF_8));
            return;
        }

        long bodyLength = 0;
        String bodySha256 = null;
        if (c.readBody) {
            MessageDigest sha = sha256();
            byte[] buf = new byte[16384];
            try (InputStream in = req.getInputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    sha.update(buf, 0, n);
                    bodyLength += n;
                }
            }
            bodySha256 = hex(sha.digest());
        }

        if (c.flush) {
            head(resp, c);
            resp.flushBuffer();
        }
        if (c.sleepMs > 0) {
            try {
                Thread.sleep(c.sleepMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (c.sendError > 0) {
            for (String[] h : c.headers) {
                resp.addHeader(h[0], h[1]);
            }
            resp.sendError(c.sendError);
            return;
        }
        if (!c.flush) {
            head(resp, c);
        }

        if (c.size >= 0) {
            if (!c.noLength && !resp.isCommitted()) {
                resp.setContentLengthLong(c.size);
            }
            writePattern(resp, c);
            return;
        }

        byte[] text = describe(req, c.readBody, bodyLength, bodySha256).getBytes(StandardCharsets.US_ASCII);
        if (!resp.isCommitted()) {
            resp.setContentLength(text.length);
        }
        ServletOutputStream out = resp.getOutputStream();
        out.write(text);
        if (c.flush) {
            out.flush();
        }
    }

    /** Status, content type and the extra headers asked for. */
    private static void head(HttpServletResponse resp, Controls c) {
        if (c.status > 0) {
            resp.setStatus(c.status);
        }
        resp.setContentType(c.size >= 0 ? "application/octet-stream" : "text/plain; charset=UTF-8");
        for (String[] h : c.headers) {
            resp.addHeader(h[0], h[1]);
        }
    }

    /**
     * The `size=` body: 16-byte lines, each the line's own byte offset as 15 lowercase hex digits
     * (zero-padded) and a newline; the last line is cut at the size.
     */
    private static void writePattern(HttpServletResponse resp, Controls c) throws IOException {
        ServletOutputStream out = resp.getOutputStream();
        byte[] buf = new byte[c.chunk];
        long offset = 0;
        while (offset < c.size) {
            int len = (int) Math.min(buf.length, c.size - offset);
            for (int i = 0; i < len; i++) {
                buf[i] = patternByte(offset + i);
            }
            out.write(buf, 0, len);
            offset += len;
            if (c.flush) {
                out.flush();
            }
        }
    }

    static byte patternByte(long offset) {
        int col = (int) (offset & 15);
        if (col == 15) {
            return '\n';
        }
        long line = offset & ~15L;
        int digit = (int) ((line >>> (4 * (14 - col))) & 15);
        return (byte) "0123456789abcdef".charAt(digit);
    }

    private static String describe(HttpServletRequest req, boolean readBody, long bodyLength, String bodySha256) {
        StringBuilder sb = new StringBuilder(1024);
        line(sb, "jkd-echo", "1");
        line(sb, "method", req.getMethod());
        line(sb, "requestURI", req.getRequestURI());
        line(sb, "contextPath", req.getContextPath());
        line(sb, "servletPath", req.getServletPath());
        line(sb, "pathInfo", req.getPathInfo());
        line(sb, "queryString", req.getQueryString());
        line(sb, "protocol", req.getProtocol());
        line(sb, "scheme", req.getScheme());
        line(sb, "secure", String.valueOf(req.isSecure()));
        line(sb, "serverName", req.getServerName());
        line(sb, "serverPort", String.valueOf(req.getServerPort()));
        line(sb, "localAddr", req.getLocalAddr());
        line(sb, "localName", req.getLocalName());
        line(sb, "localPort", String.valueOf(req.getLocalPort()));
        line(sb, "remoteAddr", req.getRemoteAddr());
        line(sb, "remoteHost", req.getRemoteHost());
        line(sb, "remotePort", String.valueOf(req.getRemotePort()));
        line(sb, "authType", req.getAuthType());
        line(sb, "remoteUser", req.getRemoteUser());
        line(sb, "requestedSessionId", req.getRequestedSessionId());
        HttpSession session = req.getSession(false);
        line(sb, "sessionId", session == null ? null : session.getId());
        line(sb, "jvmRoute", System.getProperty("jvmRoute"));
        line(sb, "characterEncoding", req.getCharacterEncoding());
        line(sb, "contentType", req.getContentType());
        line(sb, "contentLength", String.valueOf(req.getContentLengthLong()));

        Object coyote = coyoteRequest(req);
        List<String[]> headers = wireHeaders(coyote);
        line(sb, "headerOrder", headers == null ? "grouped" : "wire");
        if (headers == null) {
            headers = new ArrayList<>();
            for (String name : Collections.list(req.getHeaderNames())) {
                for (String value : Collections.list(req.getHeaders(name))) {
                    headers.add(new String[] {name, value});
                }
            }
        }
        for (String[] h : headers) {
            pair(sb, "header", h[0], h[1]);
        }
        Cookie[] cookies = req.getCookies();
        if (cookies != null) {
            for (Cookie cookie : cookies) {
                pair(sb, "cookie", cookie.getName(), cookie.getValue());
            }
        }
        TreeSet<String> names = new TreeSet<>(Collections.list(req.getAttributeNames()));
        Collections.addAll(names, KNOWN_ATTRIBUTES);
        names.addAll(coyoteAttributeNames(coyote));
        for (String name : names) {
            Object value = req.getAttribute(name);
            if (value != null) {
                pair(sb, "attribute", name, attributeText(value));
            }
        }
        line(sb, "bodyRead", String.valueOf(readBody));
        line(sb, "bodyLength", String.valueOf(bodyLength));
        line(sb, "bodySha256", bodySha256);
        line(sb, "end", "1");
        return sb.toString();
    }

    /** Tomcat's org.apache.coyote.Request behind the facade, or null (then the servlet API is used). */
    private static Object coyoteRequest(HttpServletRequest req) {
        try {
            Field f = req.getClass().getDeclaredField("request");
            f.setAccessible(true);
            Object connectorRequest = f.get(req);
            return connectorRequest.getClass().getMethod("getCoyoteRequest").invoke(connectorRequest);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Request headers exactly in the order received (repeated ones separately), or null. */
    private static List<String[]> wireHeaders(Object coyote) {
        if (coyote == null) {
            return null;
        }
        try {
            Object mime = coyote.getClass().getMethod("getMimeHeaders").invoke(coyote);
            Method size = mime.getClass().getMethod("size");
            Method name = mime.getClass().getMethod("getName", int.class);
            Method value = mime.getClass().getMethod("getValue", int.class);
            int n = (Integer) size.invoke(mime);
            List<String[]> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(new String[] {String.valueOf(name.invoke(mime, i)), String.valueOf(value.invoke(mime, i))});
            }
            return out;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Names of the attributes the connector set on the coyote request (AJP 0x0A attributes among them). */
    private static List<String> coyoteAttributeNames(Object coyote) {
        if (coyote == null) {
            return Collections.emptyList();
        }
        try {
            Map<?, ?> map = (Map<?, ?>) coyote.getClass().getMethod("getAttributes").invoke(coyote);
            List<String> out = new ArrayList<>();
            for (Object key : map.keySet()) {
                out.add(String.valueOf(key));
            }
            return out;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return Collections.emptyList();
        }
    }

    private static String attributeText(Object value) {
        if (value instanceof X509Certificate[]) {
            StringBuilder sb = new StringBuilder();
            for (X509Certificate cert : (X509Certificate[]) value) {
                if (sb.length() > 0) {
                    sb.append(" | ");
                }
                sb.append("subject=").append(cert.getSubjectX500Principal().getName())
                        .append(";issuer=").append(cert.getIssuerX500Principal().getName())
                        .append(";serial=").append(cert.getSerialNumber().toString(16));
            }
            return "X509Certificate[" + ((X509Certificate[]) value).length + "] " + sb;
        }
        if (value instanceof Object[]) {
            StringBuilder sb = new StringBuilder("[");
            for (Object o : (Object[]) value) {
                if (sb.length() > 1) {
                    sb.append(", ");
                }
                sb.append(o);
            }
            return sb.append(']').toString();
        }
        return String.valueOf(value);
    }

    /** `key: value`; a null value omits the line. */
    private static void line(StringBuilder sb, String key, String value) {
        if (value != null) {
            sb.append(key).append(": ");
            escape(sb, value, false);
            sb.append('\n');
        }
    }

    /** `key: name: value` with ':' escaped in the name. */
    private static void pair(StringBuilder sb, String key, String name, String value) {
        sb.append(key).append(": ");
        escape(sb, name, true);
        sb.append(": ");
        escape(sb, value == null ? "" : value, false);
        sb.append('\n');
    }

    /**
     * Printable ASCII stays as is; '%', controls, DEL and U+0080..U+00FF become %XX (so strings Tomcat
     * decoded as ISO-8859-1 give back their bytes); chars above U+00FF become %uXXXX (UTF-16 units).
     * In names ':' becomes %3A too.
     */
    static void escape(StringBuilder sb, String s, boolean name) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (ch > 0xFF) {
                sb.append("%u").append(String.format("%04X", (int) ch));
            } else if (ch < 0x20 || ch >= 0x7F || ch == '%' || (name && ch == ':')) {
                sb.append('%').append(String.format("%02X", (int) ch));
            } else {
                sb.append(ch);
            }
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            sb.append(Character.forDigit((b >> 4) & 15, 16)).append(Character.forDigit(b & 15, 16));
        }
        return sb.toString();
    }
}
