#!/usr/bin/python3
"""Hostile shared-cache server for tests/fleet/run-fleet.sh (python3 stdlib only).

Usage: hostile-server.py ROOT PORT_FILE [LIFETIME_SECONDS [ANSWER_SECONDS]]

Listens on 127.0.0.1 (a free port, written to PORT_FILE) and answers GET /MODE/REST:
  static/REST        ROOT/REST as a plain file server would (404 when absent)
  endless/...        200, chunked, zeros without end (no Content-Length)
  trickle/...        200, no Content-Length, one byte a second
  hang/...           accepts the request and never answers
  huge/...           200 with Content-Length 2^62 and a few bytes
  bigmanifest/...    200, no Content-Length, 2 MiB then close
  files-endless/R    ROOT/good/R for manifest and manifest.sig, else an endless chunked body
Every request path is appended to ROOT/requests.log. Bounded by itself: each answer stops
after ANSWER_SECONDS (default 90), the server after LIFETIME_SECONDS (default 240) or 2000
requests.
"""
import http.server
import os
import sys
import threading
import time
import urllib.parse

ROOT, PORT_FILE = sys.argv[1], sys.argv[2]
LIFETIME = float(sys.argv[3]) if len(sys.argv) > 3 else 240.0
ANSWER_LIMIT = float(sys.argv[4]) if len(sys.argv) > 4 else 90.0
STARTED = time.monotonic()
LOG_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def deadline(self):
        return time.monotonic() + ANSWER_LIMIT

    def head(self, length=None, chunked=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if length is None and not chunked:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def endless(self):
        self.head(chunked=True)
        chunk = b"\0" * 65536
        end = self.deadline()
        while time.monotonic() < end:
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")

    def file(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.send_error(404)
            return
        self.head(length=len(data))
        self.wfile.write(data)

    def do_GET(self):
        path = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        with LOG_LOCK, open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write(self.path + "\n")
        mode, _, rest = path.lstrip("/").partition("/")
        if ".." in rest.split("/"):
            self.send_error(404)
            return
        try:
            if mode == "static":
                self.file(os.path.join(ROOT, rest))
            elif mode == "endless":
                self.endless()
            elif mode == "trickle":
                self.head()
                end = self.deadline()
                while time.monotonic() < end:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
            elif mode == "hang":
                time.sleep(ANSWER_LIMIT)
            elif mode == "huge":
                self.head(length=1 << 62)
                self.wfile.write(b"\0" * 1024)
                time.sleep(5)
            elif mode == "bigmanifest":
                self.head()
                for _ in range(32):
                    self.wfile.write(b"file " + b"0" * 65530 + b"\n")
            elif mode == "files-endless":
                name = rest.rsplit("/", 1)[-1]
                if name in ("manifest", "manifest.sig"):
                    self.file(os.path.join(ROOT, "good", rest))
                else:
                    self.endless()
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up (as dkms does, on purpose) are no news


server = Server(("127.0.0.1", 0), Handler)
server.timeout = 0.5
with open(PORT_FILE + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(PORT_FILE + ".tmp", PORT_FILE)
for _ in range(2000):
    if time.monotonic() - STARTED > LIFETIME:
        break
    server.handle_request()
