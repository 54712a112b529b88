// jkd test webapp: what Tomcat believes about the TLS side of a request, one `name: value` per line.
// The format is documented in tests/webapp/README.md; tests/tls_tomcat.rs compares it across front ends.
package jkd.testapp;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;

public final class TlsServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        StringBuilder out = new StringBuilder();
        line(out, "isSecure", req.isSecure());
        line(out, "scheme", req.getScheme());
        line(out, "serverPort", req.getServerPort());
        line(out, "localPort", req.getLocalPort());
        // Tomcat parses the PEM that came over AJP only when this attribute is asked for.
        Object certs = req.getAttribute("jakarta.servlet.request.X509Certificate");
        if (certs instanceof X509Certificate[] chain) {
            line(out, "certCount", chain.length);
            for (int i = 0; i < chain.length; i++) {
                line(out, "cert" + i + ".subject", chain[i].getSubjectX500Principal().getName());
                line(out, "cert" + i + ".serial", chain[i].getSerialNumber().toString(16));
            }
        } else {
            line(out, "certCount", certs == null ? "absent" : "unexpected " + certs.getClass().getName());
        }
        line(out, "cipherSuite", attribute(req, "jakarta.servlet.request.cipher_suite"));
        line(out, "keySize", attribute(req, "jakarta.servlet.request.key_size"));
        // Session ids are per front end (jkd derives its own), so only their shape is comparable.
        Object session = req.getAttribute("jakarta.servlet.request.ssl_session_id");
        line(out, "sessionId", session == null ? "absent" : "present length=" + session.toString().length());
        line(out, "protocolVersion", attribute(req, "org.apache.tomcat.util.net.secure_protocol_version"));
        byte[] bytes = out.toString().getBytes(StandardCharsets.UTF_8);
        resp.setContentType("text/plain; charset=UTF-8");
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }

    /** The attribute's value with its Java type, or `absent`, so a String "256" and an Integer 256 differ. */
    private static String attribute(HttpServletRequest req, String name) {
        Object value = req.getAttribute(name);
        return value == null ? "absent" : value + " (" + value.getClass().getSimpleName() + ")";
    }

    private static void line(StringBuilder out, String name, Object value) {
        // Line breaks inside a value would break the one-line-per-fact format.
        out.append(name).append(": ").append(String.valueOf(value).replace('\n', ' ').replace('\r', ' ')).append('\n');
    }
}
