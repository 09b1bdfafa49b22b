#!/usr/bin/env python3
"""Fault-injecting HTTP proxy (a test double) between forge and a registry.

Forwards every request to --upstream unchanged (Host header included, so the
registry's Location headers point back at the proxy), except:
  --drop-uploads N   the first N blob upload requests (PUT/PATCH with a body)
                     are cut off: half the body is read, then the connection closes
  --fail-5xx N       the first N POSTs that start an upload get 500
  --throttle N       the first N blob HEADs get 429 with Retry-After: 1
Each request is logged as a JSON line {method, path, status} to --log, in order.
Usage: fault_proxy.py --port P --upstream 127.0.0.1:5000 --log FILE [faults]
"""
import argparse, http.client, json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cfg = None
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def record(self, status):
        with self.lock:
            with open(self.cfg.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path.split("?")[0], "status": status}) + "\n")

    def take(self, name):
        with self.lock:
            left = getattr(self.cfg, name)
            if left > 0:
                setattr(self.cfg, name, left - 1)
                return True
            return False

    def reply(self, status, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.record(status)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        is_upload = "/blobs/uploads/" in self.path and self.command in ("PUT", "PATCH") and length > 0
        if is_upload and self.take("drop_uploads"):
            self.rfile.read(length // 2)
            self.record("dropped")
            self.close_connection = True
            self.connection.shutdown(2)
            return
        body = self.rfile.read(length) if length else b""
        if self.command == "POST" and self.path.split("?")[0].endswith("/blobs/uploads/") and "mount=" not in self.path and self.take("fail_5xx"):
            return self.reply(500)
        if self.command == "HEAD" and "/blobs/sha256:" in self.path and self.take("throttle"):
            return self.reply(429, {"Retry-After": "1"})
        conn = http.client.HTTPConnection(self.cfg.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.record(resp.status)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--drop-uploads", type=int, default=0)
    ap.add_argument("--fail-5xx", type=int, default=0)
    ap.add_argument("--throttle", type=int, default=0)
    Proxy.cfg = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", Proxy.cfg.port), Proxy)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
