"""Per-request overhead of a runner worker in berth mode: sends N berth frames over one connection
to worker-0.sock of `python -m berth_runner --socket-dir` and reports the round trip and the
worker's CPU time per request (from /proc). Not a pytest test; run by hand:

    /usr/bin/python3 python/tests/bench_worker.py [--requests 20000] [--score score.py]
        [--model-dir DIR]

--score: the scoring script (default: a trivial run() returning {"ok": 1}); the body is a 2-row
JSON document ({"data": [[1..10], [10..1]]}).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import FrameClient  # noqa: E402

TRIVIAL = "def init():\n    pass\n\n\ndef run(raw_data):\n    return {\"ok\": 1}\n"
BODY = b'{"data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}'
HEADERS = [("Host", "localhost"), ("Content-Type", "application/json"),
           ("User-Agent", "bench"), ("x-request-id", "bench-request")]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--score")
    parser.add_argument("--model-dir", help="AZUREML_MODEL_DIR (default: the app folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as folder:
        app = Path(folder) / "app"
        app.mkdir()
        (app / "score.py").write_text(Path(args.score).read_text() if args.score else TRIVIAL)
        sockets = Path(folder) / "s"
        sockets.mkdir()
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), AML_APP_ROOT=str(app),
                   AZUREML_ENTRY_SCRIPT="score.py", AZUREML_MODEL_DIR=args.model_dir or str(app))
        parent = subprocess.Popen([sys.executable, "-m", "berth_runner", "--socket-dir",
                                   str(sockets)], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < deadline, "runner not ready"
                try:
                    with FrameClient(sockets / "control.sock") as control:
                        if control.request("GET", "/").status == 200:
                            break
                except FileNotFoundError:
                    pass
                time.sleep(0.05)
            client = FrameClient(sockets / "worker-0.sock")
            for _ in range(1000):
                client.request("POST", "/score", body=BODY, headers=HEADERS)
            worker_pid = int(subprocess.run(["pgrep", "-P", str(parent.pid)], check=True,
                                            capture_output=True, text=True).stdout.split()[0])
            cpu_start, start = cpu_seconds(worker_pid), time.perf_counter()
            for _ in range(args.requests):
                response = client.request("POST", "/score", body=BODY, headers=HEADERS)
            elapsed, cpu = time.perf_counter() - start, cpu_seconds(worker_pid) - cpu_start
            assert response.status == 200, response
            print(f"{args.requests} requests: round trip {elapsed / args.requests * 1e6:.1f} us,"
                  f" worker CPU {cpu / args.requests * 1e6:.1f} us per request")
        finally:
            parent.terminate()
            parent.wait()


if __name__ == "__main__":
    main()
