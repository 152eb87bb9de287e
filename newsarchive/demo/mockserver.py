"""A loopback server for a mirror fixture: the mirror's static site and its share host.

A fixture folder holds ``site/`` (the mirror's HTML, feed.xml, category pages) and ``upstream/``
(``<infoCode>.json``, what the share host answers). Share-host paths are answered whether they
arrive directly or through this server used as an HTTP proxy (``http_proxy=http://127.0.0.1:PORT``),
so share URLs written in posts (``http://finews.zning.xyz/…``) are fetched unchanged.
Used by ``newsarchive demo``, the tests and the benchmark; binds 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import gzip
import json
import mimetypes
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

SHARE_SHELL = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>资讯分享</title>
<script>
var infoCode = "{code}";
fetch("../NewsData/GetNewsText.do?id=" + infoCode).then(function (r) {{ return r.json(); }})
  .then(function (d) {{ document.getElementById("content").innerHTML = d.text || d.content; }});
</script></head>
<body><div class="newsshare"><h1 id="title"></h1><div id="content"></div></div></body></html>
"""
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.I)


class FixtureServer(ThreadingHTTPServer):
    daemon_threads = True
    fixture: Path
    delay: float = 0.0
    gzip: bool = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.hits: list[str] = []
        # tests: answers of their own, ``dynamic(path, query) -> (status, headers, body) | None``
        self.dynamic = None

    def handle_error(self, request, client_address) -> None:
        pass                    # clients that hang up are no news


class Handler(BaseHTTPRequestHandler):
    server: FixtureServer

    server_version = "newsarchive-mock/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8"):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if self.server.gzip and "gzip" in (self.headers.get("Accept-Encoding") or "") and status == 200:
            data = gzip.compress(data, mtime=0)        # as nginx's "gzip on" does
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        server = self.server
        server.hits.append(self.path)
        if server.delay:
            time.sleep(server.delay)
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        if server.dynamic is not None and (answer := server.dynamic(path, query)) is not None:
            status, headers, body = answer
            self.send_response(status)
            for name, value in {"Content-Type": "text/html; charset=utf-8", **headers,
                                "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return None
        upstream = server.fixture / "upstream"
        if path.endswith("/html_News/NewsShare.html"):
            code = (query.get("infoCode") or [""])[0]
            if re.fullmatch(r"[A-Z]{2}[0-9]{18}", code) and (upstream / f"{code}.json").is_file():
                return self._send(200, SHARE_SHELL.format(code=code))
            return self._send(404, "not found")
        if path.endswith("/NewsData/GetNewsText.do"):
            code = (query.get("id") or [""])[0]
            f = upstream / f"{code}.json"
            if re.fullmatch(r"[A-Z]{2}[0-9]{18}", code) and f.is_file():
                return self._send(200, f.read_bytes(), "application/json; charset=utf-8")
            return self._send(200, json.dumps({"error": "no such article"}), "application/json; charset=utf-8")
        site = (server.fixture / "site").resolve()
        target = (site / path.lstrip("/")).resolve()
        if site != target and site not in target.parents:
            return self._send(403, "forbidden")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return self._send(404, "<h1>404</h1>")
        data = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".xml":
            ctype = "application/atom+xml; charset=utf-8"
        elif ctype == "text/html":
            declared = _META_CHARSET.search(data[:2048])
            # a page that declares another charset is served without one, as old servers do
            if not declared or declared.group(1).lower() in (b"utf-8", b"utf8"):
                ctype += "; charset=utf-8"
        return self._send(200, data, ctype)


class MockServer:
    """``with MockServer(fixture) as server: server.url`` — a mirror fixture on 127.0.0.1."""

    def __init__(self, fixture: str | Path, port: int = 0, delay: float = 0.0, gzip: bool = False):
        self.httpd = FixtureServer(("127.0.0.1", port), Handler)
        self.httpd.fixture = Path(fixture).resolve()
        self.httpd.delay = delay
        self.httpd.gzip = gzip
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("fixture", type=Path)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", type=Path)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args(argv)
    server = MockServer(args.fixture, args.port, args.delay)
    if args.port_file:
        args.port_file.write_text(str(server.port))
    print(f"serving {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
