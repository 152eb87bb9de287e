"""A loopback mirror server that misbehaves by seeded chance (for the reliability tests).

Per request, with probability ``rate``: HTTP 500/502/503/429, a connection reset, a stall past the
client's timeout, a body cut short (Content-Length promised, connection closed), an HTML page cut
short inside a complete response, or a redirect loop. Always, for chosen paths: 404 (posts that do
not exist) and one 50 MB body.
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

from newsarchive.demo.mockserver import Handler, MockServer

FAULTS = ("500", "502", "503", "429", "reset", "stall", "cut_body", "cut_html", "redirect_loop")


class FaultHandler(Handler):
    def do_GET(self):
        server = self.server
        path = urlsplit(self.path).path
        if path in server.missing:
            server.count("404")
            return self._send(404, "<h1>404</h1>")
        if path in server.huge:
            server.count("huge")
            return self._huge()
        if "robots.txt" in path:
            return self._send(404, "no robots")
        fault = server.pick()
        if fault is None:
            return super().do_GET()
        server.count(fault)
        if fault in ("500", "502", "503", "429"):
            return self._send(int(fault), f"<h1>{fault}</h1>")
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return None
        if fault == "stall":
            time.sleep(server.stall)
            return self._send(503, "late")
        if fault == "redirect_loop":
            self.send_response(302)
            sep = "&" if "?" in self.path else "?"
            self.send_header("Location", f"{self.path}{sep}loop={random.random()}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        # a cut body: render the real answer into a buffer first
        real = _Capture(self)
        Handler.do_GET(real)
        status, headers, body = real.result()
        if fault == "cut_body":
            self.send_response(status)
            for k, v in headers:
                if k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self._send(status, body[: len(body) // 2], dict(headers).get("Content-Type", "text/html"))

    def _huge(self):
        size = 50 * 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b"<p>" + "大".encode() * 20000 + b"</p>"
        sent = 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                self.wfile.write(part)
                sent += len(part)
        except OSError:
            pass


class _Capture:
    """Runs the plain handler's do_GET against a buffer."""

    def __init__(self, real):
        self.server, self.path, self.command = real.server, real.path, "GET"
        self.headers_out, self.status, self.chunks = [], 200, []

    def _send(self, status, body, ctype="text/html; charset=utf-8"):
        self.status = status
        self.headers_out = [("Content-Type", ctype)]
        self.chunks.append(body if isinstance(body, bytes) else body.encode("utf-8"))

    def result(self):
        return self.status, self.headers_out, b"".join(self.chunks)


class FaultServer(MockServer):
    def __init__(self, fixture, rate: float = 0.2, seed: int = 1, stall: float = 3.0, missing=(), huge=()):
        super().__init__(fixture)
        self.httpd.RequestHandlerClass = FaultHandler
        self.httpd.rng = random.Random(seed)
        self.httpd.lock = threading.Lock()
        self.httpd.rate = rate
        self.httpd.stall = stall
        self.httpd.missing = set(missing)
        self.httpd.huge = set(huge)
        self.httpd.faults = {}
        self.httpd.handle_error = lambda request, address: None   # resets are the point here

        def pick():
            with self.httpd.lock:
                if self.httpd.rng.random() >= self.httpd.rate:
                    return None
                return self.httpd.rng.choice(FAULTS)

        def count(name):
            with self.httpd.lock:
                self.httpd.faults[name] = self.httpd.faults.get(name, 0) + 1

        self.httpd.pick, self.httpd.count = pick, count

    @property
    def faults(self) -> dict:
        return dict(self.httpd.faults)
