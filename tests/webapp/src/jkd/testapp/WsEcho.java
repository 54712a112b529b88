// jkd test webapp: a WebSocket echo endpoint at /ws/echo; each answer names the node
// (jvmRoute) and the HTTP session the handshake carried, so tests see where a
// WebSocket landed and whether it stuck to its session's node.
package jkd.testapp;

import jakarta.servlet.http.HttpSession;
import jakarta.websocket.HandshakeResponse;
import jakarta.websocket.OnMessage;
import jakarta.websocket.Session;
import jakarta.websocket.server.HandshakeRequest;
import jakarta.websocket.server.ServerEndpoint;
import jakarta.websocket.server.ServerEndpointConfig;

@ServerEndpoint(value = "/ws/echo", configurator = WsEcho.SessionAware.class)
public final class WsEcho {
    /** Keeps the id of the HTTP session of the handshake (Tomcat copies the properties per session). */
    public static final class SessionAware extends ServerEndpointConfig.Configurator {
        @Override
        public void modifyHandshake(ServerEndpointConfig config, HandshakeRequest request,
                HandshakeResponse response) {
            Object session = request.getHttpSession();
            config.getUserProperties().put("session",
                    session instanceof HttpSession ? ((HttpSession) session).getId() : "-");
        }
    }

    @OnMessage
    public String echo(String message, Session session) {
        return "node=" + System.getProperty("jvmRoute") + " session="
                + session.getUserProperties().get("session") + " echo=" + message;
    }
}
