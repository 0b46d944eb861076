#!/usr/bin/env python3
"""A scoring server for berth's integration tests: the instance program a deployment runs.

Standard library only; runs with any python3 (3.7+).

    test_server.py [--port N] [--host H]      (the port defaults to $PORT)

Routes:
  GET  /, /health          200 "Healthy" (/health is 503 until TEST_READY_AFTER_S has passed)
  POST /score              200 JSON describing the instance and echoing the request body
  POST /release/<name>     releases every current and future {"block": "<name>"} request
  GET  /blocked/<name>     how many requests are blocked on <name> right now
  GET  /swagger.json       a small Swagger 2.0 document when TEST_SWAGGER=1, else 404
  POST /exit/<code>        answers, then ends the process with that exit code

A /score body (JSON) may steer the answer:
  {"sleep_ms": N}          sleep N milliseconds first
  {"block": "<name>"}      wait until POST /release/<name>
  {"status": 500}          answer with that status and a JSON error body
  {"inspect": {...}}       report what the instance can see and reach (sandbox tests), under
                           "inspect": "read": [paths] -> {path: "ok" | error}, "connect":
                           [[host, port]] -> {"host:port": "ok" | error}, "cat": [paths] ->
                           {path: text | null}, "spawn": [argv]
                           starts argv in a new session and does not wait, "environ": true ->
                           the variable names, "network": true -> interfaces and route count

Environment:
  TEST_EXIT_AT_START=<code>   print "failing at start on purpose" to stderr and exit at once
  TEST_READY_AFTER_S=<float>  /health answers 503 for that long after start
  TEST_SWAGGER=1              serve /swagger.json
  TEST_*                      echoed back in /score answers under "env"
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time

STARTED_AT = time.monotonic()


class Gates:
    """Named gates for {"block": name}: requests wait until the gate is released."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events = {}
        self._waiting = {}

    def _event(self, name):
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def wait(self, name):
        event = self._event(name)
        with self._lock:
            self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            event.wait()
        finally:
            with self._lock:
                self._waiting[name] -= 1

    def release(self, name):
        self._event(name).set()

    def waiting(self, name):
        with self._lock:
            return self._waiting.get(name, 0)


GATES = Gates()


def swagger_doc():
    return {
        "swagger": "2.0",
        "info": {"title": "berth test server", "version": "1.0"},
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {
            "/score": {
                "post": {
                    "summary": "Echo the request with details of the instance",
                    "parameters": [
                        {"name": "body", "in": "body", "required": True,
                         "schema": {"type": "object"}}
                    ],
                    "responses": {"200": {"description": "OK", "schema": {"type": "object"}}},
                }
            }
        },
    }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    # Without it, keep-alive answers wait ~40 ms on Nagle and delayed ACKs.
    disable_nagle_algorithm = True
    server_version = "berth-test-server/1.0"

    # ---- plumbing ----

    def _read_body(self):
        """Reads the whole body (Content-Length or chunked) so keep-alive stays in step."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body, content_type="application/json"):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _not_found(self):
        self._send(404, {"error": "no route for %s %s" % (self.command, self.path)})

    def _route(self):
        return self.path.split("?", 1)[0]

    # ---- routes ----

    def do_GET(self):
        self._read_body()
        path = self._route()
        if path in ("/", "/health"):
            ready_after = float(os.environ.get("TEST_READY_AFTER_S") or 0)
            if path == "/health" and time.monotonic() - STARTED_AT < ready_after:
                self._send(503, "Not ready", "text/plain")
            else:
                self._send(200, "Healthy", "text/plain")
        elif path.startswith("/blocked/"):
            self._send(200, json.dumps(GATES.waiting(path[len("/blocked/"):])))
        elif path == "/swagger.json" and os.environ.get("TEST_SWAGGER") == "1":
            self._send(200, swagger_doc())
        else:
            self._not_found()

    def do_POST(self):
        body = self._read_body()
        path = self._route()
        if path == "/score":
            self._score(body)
        elif path.startswith("/release/"):
            GATES.release(path[len("/release/"):])
            self._send(200, {"released": path[len("/release/"):]})
        elif path.startswith("/exit/"):
            try:
                code = int(path[len("/exit/"):])
            except ValueError:
                self._send(400, {"error": "exit code must be an integer"})
                return
            self._send(200, {"exiting": code})
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        else:
            self._not_found()

    def _score(self, body):
        text = body.decode("utf-8", errors="replace")
        try:
            echo = json.loads(text) if text else None
        except ValueError:
            echo = text
        steer = echo if isinstance(echo, dict) else {}
        sleep_ms = steer.get("sleep_ms")
        if isinstance(sleep_ms, (int, float)) and sleep_ms > 0:
            time.sleep(sleep_ms / 1000.0)
        gate = steer.get("block")
        if isinstance(gate, str):
            GATES.wait(gate)
        inspect = steer.get("inspect")
        if isinstance(inspect, dict):
            self._send(200, {"inspect": _inspect(inspect), "port": os.environ.get("PORT")})
            return
        status = steer.get("status")
        if isinstance(status, int) and status != 200:
            self._send(status, {"error": "status %d on request" % status})
            return
        self._send(200, {
            "deployment": os.environ.get("BERTH_DEPLOYMENT"),
            "instance": os.environ.get("BERTH_INSTANCE"),
            "pid": os.getpid(),
            "started_at": STARTED_AT,  # tells restarted processes apart (pids repeat in sandboxes)
            "endpoint": os.environ.get("BERTH_ENDPOINT"),
            "echo": echo,
            "model_dir": os.environ.get("AZUREML_MODEL_DIR"),
            "env": {k: v for k, v in os.environ.items() if k.startswith("TEST_")},
        })


def _inspect(what):
    import socket
    import subprocess
    report = {}
    if "read" in what:
        report["read"] = {}
        for path in what["read"]:
            try:
                if os.path.isdir(path):
                    os.listdir(path)
                else:
                    with open(path, "rb") as f:
                        f.read(1)
                report["read"][path] = "ok"
            except OSError as error:
                report["read"][path] = "%s: %s" % (type(error).__name__, error.strerror)
    if "connect" in what:
        report["connect"] = {}
        for host, port in what["connect"]:
            try:
                socket.create_connection((host, int(port)), timeout=3).close()
                report["connect"]["%s:%s" % (host, port)] = "ok"
            except OSError as error:
                report["connect"]["%s:%s" % (host, port)] = str(error)
    if "cat" in what:
        report["cat"] = {}
        for path in what["cat"]:
            try:
                with open(path, errors="replace") as f:
                    report["cat"][path] = f.read()
            except OSError as error:
                report["cat"][path] = None
    if what.get("spawn"):
        subprocess.Popen(what["spawn"], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if what.get("environ"):
        report["environ"] = sorted(os.environ)
    if what.get("network"):
        with open("/proc/net/dev") as f:
            report["interfaces"] = sorted(line.split(":")[0].strip()
                                          for line in f.read().splitlines()[2:])
        with open("/proc/net/route") as f:
            report["routes"] = len(f.read().splitlines()) - 1
    return report


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # blocked requests must not keep the process alive
    allow_reuse_address = True
    request_queue_size = 1024  # the default 5 resets connections under concurrent load


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    exit_code = os.environ.get("TEST_EXIT_AT_START")
    if exit_code:
        print("failing at start on purpose", file=sys.stderr, flush=True)
        sys.exit(int(exit_code))

    port = args.port
    if port is None:
        if not os.environ.get("PORT"):
            parser.error("--port or $PORT is required")
        port = int(os.environ["PORT"])

    server = Server((args.host, port), Handler)
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
