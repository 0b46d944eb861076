"""A custom-command deployment: a linear model served over HTTP with the standard library.

berth starts it with --port and AZUREML_MODEL_DIR, probes GET /health and forwards
POST /score. Request: {"data": [[x1, x2, x3, x4], ...]}; answer: a list of predictions.
"""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_FILE = os.path.join(os.environ.get("AZUREML_MODEL_DIR", "."), "model", "weights.json")
with open(MODEL_FILE) as f:
    MODEL = json.load(f)


def predict(rows):
    w, b = MODEL["weights"], MODEL["bias"]
    out = []
    for row in rows:
        if len(row) != len(w):
            raise ValueError(f"each row needs {len(w)} features, got {len(row)}")
        out.append(sum(x * y for x, y in zip(row, w)) + b)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it, keep-alive answers wait ~40 ms on Nagle and delayed ACKs.
    disable_nagle_algorithm = True

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/", "/health"):
            self._send(200, "Healthy")
        else:
            self._send(404, {"message": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/score":
            return self._send(404, {"message": "not found"})
        try:
            rows = json.loads(body)["data"]
            self._send(200, predict(rows))
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, {"message": str(e)})

    def log_message(self, fmt, *args):
        print("%s - %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5001")))
    args = parser.parse_args()
    print(f"serving {MODEL_FILE} on 127.0.0.1:{args.port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
