#!/usr/bin/env python3
"""A git smart-HTTP server over TLS that stands in for github.com in the vault e2e suite.

Usage: git_server.py ROOT CERT KEY TOKEN LOG [PORT]
Serves the repositories under ROOT through `git http-backend` (CGI) on PORT (443). The gate's
loopback tests use it too. Every request
must carry Basic credentials x-access-token:TOKEN, or it gets 401 and a challenge (so a clone
works only when git got the token from the vault). Each request is logged to LOG as
"METHOD PATH auth=ok|missing|wrong" (never the credentials themselves).
"""
import base64
import http.server
import os
import ssl
import subprocess
import sys

root, cert, key, token, log_path = sys.argv[1:6]
port = int(sys.argv[6]) if len(sys.argv) > 6 else 443
expected = "Basic " + base64.b64encode(("x-access-token:" + token).encode()).decode()


class GitHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the log below is the record
        pass

    def record(self, auth):
        with open(log_path, "a") as f:
            f.write(f"{self.command} {self.path} auth={auth}\n")

    def serve(self):
        given = self.headers.get("Authorization")
        auth = "missing" if given is None else ("ok" if given == expected else "wrong")
        self.record(auth)
        if auth != "ok":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = serve
    do_POST = serve


server = http.server.ThreadingHTTPServer(("0.0.0.0", port), GitHandler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
