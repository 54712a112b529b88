#!/usr/bin/env python3
"""Holds N mostly idle HTTP/1.1 keep-alive connections to 127.0.0.1:PORT (helper of compare.sh).

With --tls every connection is HTTPS (Python's ssl module, no certificate check, a full
handshake each: no session is reused), done without blocking after the TCP connect;
the handshakes count in phase 1's times.

Phase 1: opens N connections and sends one GET on each; waits (at most --serve-timeout
seconds) until each has its complete response. Then prints "ready" to --status FILE and
keeps every connection open, idle, until the file named by --go exists (at most
--max-hold seconds). Phase 2: sends a second GET on every connection still open and waits
(at most --serve-timeout) for the answers. Finally closes everything with RST (SO_LINGER
0, so no TIME_WAIT is left behind) and prints one line of key=value results:

  opened        connections whose connect() completed
  served1       connections that got their first response in phase 1
  t50_1/t99_1/tall_1  seconds until 50 % / 99 % / all of the N got the first response
  alive2        connections that answered the second request after the hold
  closed_idle   connections the server closed while idle
  errors        connect errors, resets, bad responses
"""

import argparse
import errno
import os
import selectors
import socket
import ssl
import struct
import sys
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--path", default="/echo/x")
    p.add_argument("--serve-timeout", type=float, default=30.0)
    p.add_argument("--max-hold", type=float, default=120.0)
    p.add_argument("--status", required=True)
    p.add_argument("--go", required=True)
    p.add_argument("--connect-rate", type=int, default=2000, help="new connections per second")
    p.add_argument("--tls", action="store_true", help="HTTPS: a TLS handshake on each connection")
    return p.parse_args()


class Conn:
    __slots__ = ("sock", "state", "buf", "need", "served1", "served2", "dead", "t1")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connecting"
        self.buf = b""
        self.need = None
        self.served1 = False
        self.served2 = False
        self.dead = False
        self.t1 = None


def response_complete(buf):
    """Length of one complete response at the start of buf (Content-Length or chunked),
    or None when it is not complete yet; raises ValueError on garbage."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ValueError("header too long")
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    if not head[0].startswith("HTTP/1."):
        raise ValueError("not HTTP: %r" % head[0][:40])
    length = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body = end + 4
    if chunked:
        pos = body
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                return None
            size = int(buf[pos:nl].split(b";")[0], 16)
            pos = nl + 2 + size + 2
            if len(buf) < pos:
                return None
            if size == 0:
                return pos
    if length is None:
        length = 0
    if len(buf) < body + length:
        return None
    return body + length


def main():
    a = parse_args()
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: jkd-idle\r\n\r\n" % (a.path, a.port)).encode()
    sel = selectors.DefaultSelector()
    conns = []
    errors = 0
    opened = 0
    start = time.monotonic()
    served_times = []
    tls = None
    if a.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE

    WOULD_BLOCK = object()

    def read_all(c):
        """Everything readable now: bytes (b"" when closed), None on an error, WOULD_BLOCK
        when nothing came (a TLS record without application data, e.g. a session ticket)."""
        got = b""
        while True:
            try:
                data = c.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return got if got else WOULD_BLOCK
            except OSError:
                return got if got else None
            if not data:
                return got if got else b""
            got += data
            if tls is None:
                return got

    def send_request(c):
        nonlocal errors
        try:
            c.sock.send(request)
        except OSError:
            errors += 1
            close(c)
            return False
        c.state = "reading"
        sel.modify(c.sock, selectors.EVENT_READ, c)
        return True

    def close(c, rst=True):
        if c.dead:
            return
        c.dead = True
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        if rst:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        c.sock.close()

    def pump(deadline, phase):
        nonlocal errors, opened
        waiting = sum(1 for c in conns if not c.dead and c.state != "idle")
        while waiting and time.monotonic() < deadline:
            for key, ev in sel.select(timeout=max(0.0, min(0.5, deadline - time.monotonic()))):
                c = key.data
                if c.dead:
                    continue
                if c.state == "connecting":
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        errors += 1
                        close(c)
                        waiting -= 1
                        continue
                    opened += 1
                    if tls is not None:
                        # The TLS socket takes over the descriptor: register it instead.
                        sel.unregister(c.sock)
                        try:
                            c.sock = tls.wrap_socket(c.sock, do_handshake_on_connect=False)
                        except OSError:
                            errors += 1
                            c.dead = True
                            waiting -= 1
                            continue
                        c.state = "handshaking"
                        sel.register(c.sock, selectors.EVENT_WRITE, c)
                        continue
                    if not send_request(c):
                        waiting -= 1
                    continue
                if c.state == "handshaking":
                    try:
                        c.sock.do_handshake()
                    except ssl.SSLWantReadError:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                        continue
                    except ssl.SSLWantWriteError:
                        sel.modify(c.sock, selectors.EVENT_WRITE, c)
                        continue
                    except OSError:
                        errors += 1
                        close(c)
                        waiting -= 1
                        continue
                    if not send_request(c):
                        waiting -= 1
                    continue
                data = read_all(c)
                if data is WOULD_BLOCK:
                    continue
                if not data:
                    # Closed or reset before the answer came.
                    errors += 1
                    close(c)
                    waiting -= 1
                    continue
                c.buf += data
                try:
                    n = response_complete(c.buf)
                except ValueError:
                    errors += 1
                    close(c)
                    waiting -= 1
                    continue
                if n is None:
                    continue
                c.buf = c.buf[n:]
                c.state = "idle"
                waiting -= 1
                if phase == 1:
                    c.served1 = True
                    served_times.append(time.monotonic() - start)
                else:
                    c.served2 = True

    # Phase 1: connect at a bounded rate while serving what is already connected.
    deadline = start + a.serve_timeout
    next_batch = start
    per_tick = max(1, a.connect_rate // 20)
    while len(conns) < a.conns and time.monotonic() < deadline:
        for _ in range(min(per_tick, a.conns - len(conns))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(s)
            conns.append(c)
            rc = s.connect_ex(("127.0.0.1", a.port))
            if rc not in (0, errno.EINPROGRESS):
                errors += 1
                close(c)
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
        next_batch += 0.05
        pump(min(next_batch, deadline), 1)
        time.sleep(max(0.0, min(next_batch, deadline) - time.monotonic()))
    pump(deadline, 1)
    served1 = sum(1 for c in conns if c.served1)
    # Whatever is still unanswered is given up (its socket stays open but is not counted).
    for c in conns:
        if not c.dead and c.state != "idle":
            close(c)

    with open(a.status, "w") as f:
        f.write("ready served1=%d\n" % served1)

    # Hold: watch for connections the server closes while idle.
    hold_end = time.monotonic() + a.max_hold
    for c in conns:
        if not c.dead:
            sel.modify(c.sock, selectors.EVENT_READ, c)
    closed_idle = 0
    while time.monotonic() < hold_end and not os.path.exists(a.go):
        for key, ev in sel.select(timeout=0.2):
            c = key.data
            data = read_all(c)
            if data is WOULD_BLOCK:
                continue
            if not data:
                closed_idle += 1
                close(c)

    # Phase 2: a second request on every connection still open.
    for c in conns:
        if not c.dead:
            try:
                c.sock.send(request)
                c.state = "reading"
                c.buf = b""
            except OSError:
                closed_idle += 1
                close(c)
    pump(time.monotonic() + a.serve_timeout, 2)
    alive2 = sum(1 for c in conns if c.served2)
    for c in conns:
        close(c)

    served_times.sort()

    def pct(p):
        if len(served_times) < a.conns * p:
            return -1
        return served_times[max(0, int(a.conns * p) - 1)]

    print(
        "opened=%d served1=%d t50_1=%.2f t99_1=%.2f tall_1=%.2f alive2=%d closed_idle=%d errors=%d"
        % (opened, served1, pct(0.5), pct(0.99), pct(1.0), alive2, closed_idle, errors)
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
