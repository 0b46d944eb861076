#!/usr/bin/python3
"""berth's benchmarks B1-B6 (docs/benchmarks.md says what each measures). Stdlib only
(B4's model is trained by a /usr/bin/python3 subprocess with scikit-learn).

    /usr/bin/python3 bench/run.py [--build-dir build] [--only B1,B2,B3,B4,B5,B6]

B1 gateway hop vs nginx; B2 TorchScript MLP vs FastAPI and the raw model; B3 dynamic batching on
vs off; B4 a scoring script (score.py) vs gunicorn + Flask and FastAPI + uvicorn; B5 a batch job
over 10,000 files vs a plain Python loop; B6 management writes and lists as the fleet grows.

`make bench` runs it (`make bench BENCH=B1` for one). Settings come from the environment:

    BENCH_DURATION=8s      length of each measured wrk run (and of each raw-ceiling run)
    BENCH_WARMUP=4s        length of the warm-up run before each configuration
    BENCH_QUICK=1          smoke run: 2s runs, 1s warm-up, no repeats, B6 at 10 and 200
                           endpoints (not a measurement)
    BENCH_B6_BUDGET=240s   B6: time allowed for creating endpoints; sizes not reached in it are
                           reported as such
    BENCH_CLIENT_CPUS=0    cores of the load generator (taskset -c)
    BENCH_SERVER_CPUS=1    cores of every system under test (berthd and its instances, nginx,
                           uvicorn, gunicorn, the raw ceiling)
    BENCH_DATA_PLANE_THREADS=N     berthd's --data-plane-threads (default: one per server core)
    BENCH_OUT=docs/benchmarks.md   where the results section is appended
    BENCH_KEEP=1           keep the temporary folder (logs, configs, berthd's data) for debugging

Method: wrk -t1 pinned to the client cores, closed loop, a warm-up run, then 3 runs; the medians
of throughput, p50 and p99 are reported. A configuration whose 3 runs spread more than 5 %
(max - min over median throughput) is measured again, up to 3 more times; the attempt with the
smallest spread is kept and flagged if it is still above 5 %. Nothing here asserts on timing:
targets are printed next to the numbers. Every process started is stopped at exit and the
temporary folder removed.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection, HTTPException
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RUNS = 3
MAX_SPREAD = 0.05
EXTRA_ATTEMPTS = 3
QUEUE_DELAY_US = 100  # bench/make_models.py's max_queue_delay_microseconds


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not m:
        raise SystemExit(f"bench: cannot read duration {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


class Settings:
    def __init__(self):
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        self.duration = os.environ.get("BENCH_DURATION", "2s" if self.quick else "8s")
        self.warmup = os.environ.get("BENCH_WARMUP", "1s" if self.quick else "4s")
        self.extra_attempts = 0 if self.quick else EXTRA_ATTEMPTS
        ncpu = os.cpu_count() or 1
        self.client_cpus = os.environ.get("BENCH_CLIENT_CPUS", "0")
        self.server_cpus = os.environ.get("BENCH_SERVER_CPUS", "1" if ncpu > 1 else "0")
        self.out = Path(os.environ.get("BENCH_OUT", ROOT / "docs" / "benchmarks.md"))
        self.b6_budget = seconds(os.environ.get("BENCH_B6_BUDGET", "240s"))
        # berthd's --data-plane-threads: by default one per server core it is pinned to.
        cores = len([c for part in self.server_cpus.split(",") for c in
                     (range(int(part.split("-")[0]), int(part.split("-")[1]) + 1)
                      if "-" in part else [part])])
        self.data_plane_threads = int(os.environ.get("BENCH_DATA_PLANE_THREADS", cores))

    def env_line(self):
        return (f"BENCH_DURATION={self.duration} BENCH_WARMUP={self.warmup} "
                f"BENCH_CLIENT_CPUS={self.client_cpus} BENCH_SERVER_CPUS={self.server_cpus} "
                f"BENCH_DATA_PLANE_THREADS={self.data_plane_threads}"
                + (" BENCH_QUICK=1" if self.quick else ""))


# ---------------------------------------------------------------------------------------------
# Processes: each started in its own session, stopped (group SIGTERM, then SIGKILL) at exit.

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, cpus=None, env=None, cwd=None, logdir=None):
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        out = open(Path(logdir) / f"{name}.out", "wb")
        err = open(Path(logdir) / f"{name}.log", "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd,
                             start_new_session=True)
        out.close()
        err.close()
        p.bench_name = name
        p.bench_log = Path(logdir) / f"{name}.log"
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what, check, timeout=120, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited; log:\n{tail(proc.bench_log)}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


def tail(path, n=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# Load generation and repetition.

LUA = """-- POST the same body on every request (bench/run.py)
local f = assert(io.open({body!r}, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
{auth}
"""


def write_lua(tmp, name, body_file, key=None):
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    path = Path(tmp) / f"{name}.lua"
    path.write_text(LUA.format(body=str(body_file), auth=auth))
    return path


UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
    def lat(pct):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")

    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        raise RuntimeError(f"cannot read wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    total = re.search(r"^\s*(\d+) requests in ", text, re.M)
    return {"rps": float(m.group(1)), "p50_us": lat(50), "p99_us": lat(99),
            "requests": int(total.group(1)) if total else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": sum(int(x) for x in errs.groups()) if errs else 0}


class Bench:
    def __init__(self, settings, build_dir, tmp, procs):
        self.s = settings
        self.build = Path(build_dir)
        self.tmp = Path(tmp)
        self.procs = procs
        self.commands = []  # exact load-generator commands, for the report

    def wrk_argv(self, url, conns, duration, lua):
        return ["taskset", "-c", self.s.client_cpus, "wrk", "-t1", f"-c{conns}", f"-d{duration}",
                "--latency", "-s", str(lua), url]

    def wrk(self, url, conns, duration, lua):
        argv = self.wrk_argv(url, conns, duration, lua)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds(duration) + 60)
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stderr}{out.stdout}")
        return parse_wrk(out.stdout)

    def repeated(self, label, run_once):
        """RUNS runs of run_once() -> {"rps", "p50_us", "p99_us", ...}; medians; repeats above
        MAX_SPREAD as the module docstring says."""
        best = None
        for attempt in range(1 + self.s.extra_attempts):
            runs = [run_once() for _ in range(RUNS)]
            rps = [r["rps"] for r in runs]
            med = statistics.median(rps)
            spread = (max(rps) - min(rps)) / med if med > 0 else float("inf")
            result = {
                "rps": med,
                "p50_us": statistics.median(r["p50_us"] for r in runs),
                "p99_us": statistics.median(r["p99_us"] for r in runs),
                "spread": spread,
                "attempts": attempt + 1,
                "non2xx": sum(r.get("non2xx", 0) for r in runs),
                "errors": sum(r.get("errors", 0) for r in runs),
                "runs": runs,
            }
            if best is None or spread < best["spread"]:
                best = dict(result, attempts=attempt + 1)
            best["attempts"] = attempt + 1
            log(f"{label}: {med:,.0f}/s p50 {result['p50_us']:.0f} us p99 "
                f"{result['p99_us']:.0f} us spread {spread:.1%} (attempt {attempt + 1})")
            if spread <= MAX_SPREAD:
                break
        best["flagged"] = best["spread"] > MAX_SPREAD
        return best

    def load(self, label, url, conns, lua):
        """Warm-up, then repeated() wrk runs at `conns` connections."""
        self.commands.append(shlex.join(self.wrk_argv(url, conns, self.s.duration, lua)))
        self.wrk(url, conns, self.s.warmup, lua)
        return self.repeated(label, lambda: self.wrk(url, conns, self.s.duration, lua))

    # -- berthd and the CLI ------------------------------------------------------------------

    def launch_berthd(self, name, extra_args=()):
        """Starts a berthd (data dir <tmp>/<name>-data, port 0) -> (process, url, admin token)."""
        data = self.tmp / f"{name}-data"
        data.mkdir(exist_ok=True)
        berthd = str(self.build / "src" / "berthd")
        argv = [berthd, "--data-dir", str(data), "--port", "0", "--log-level", "warn",
                *extra_args]
        # A berthd from before --data-plane-threads (a baseline build) runs one loop anyway.
        if "--data-plane-threads" in subprocess.run([berthd, "--help"], capture_output=True,
                                                    text=True).stdout:
            argv += ["--data-plane-threads", str(self.s.data_plane_threads)]
        p = self.procs.start(name, argv,
                             cpus=self.s.server_cpus, logdir=self.tmp)
        out = self.tmp / f"{name}.out"
        url = []

        def listening():
            m = re.search(r"^berthd: listening on (\S+)", out.read_text(), re.M)
            if m:
                url.append(m.group(1))
            return bool(m)

        wait_until(name, listening, 30, p)
        return p, url[0], (data / "admin-token").read_text().strip()

    def start_berthd(self):
        """The berthd that B1-B3 share."""
        p, self.berth_url, self.admin_token = self.launch_berthd("berthd")
        self.berthd = p
        return p

    def berth(self, *args, cwd=None):
        env = dict(os.environ, BERTH_URL=self.berth_url, BERTH_TOKEN=self.admin_token)
        out = subprocess.run([str(self.build / "src" / "berth"), *args], capture_output=True,
                             text=True, env=env, cwd=cwd, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)}: {out.stderr}{out.stdout}")
        return out.stdout

    def deploy(self, endpoint, deployment):
        """Creates the endpoint (key auth) and the deployment with all traffic; returns the
        endpoint's primary key."""
        d = self.tmp / f"{endpoint}-yaml"
        d.mkdir(exist_ok=True)
        # YAML is a superset of JSON.
        (d / "endpoint.yml").write_text(json.dumps({
            "$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
            "name": endpoint, "auth_mode": "key"}, indent=1))
        self.berth("online-endpoint", "create", "-f", "endpoint.yml", cwd=d)
        self.add_deployment(endpoint, deployment, all_traffic=True)
        creds = json.loads(self.berth("online-endpoint", "get-credentials", "-n", endpoint))
        return creds["primaryKey"]

    def add_deployment(self, endpoint, deployment, all_traffic=False):
        """Creates a deployment of an existing endpoint and waits for it (`berth online-deployment
        create`); `deployment` is merged over the benchmark's defaults."""
        d = self.tmp / f"{endpoint}-yaml"
        d.mkdir(exist_ok=True)
        dep = {
            "$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json",
            "endpoint_name": endpoint, "instance_count": 1,
            # Admission and timeouts must never limit the benchmark.
            "request_settings": {"max_concurrent_requests_per_instance": 256,
                                 "max_queue_wait_ms": 60000, "request_timeout_ms": 60000},
            "readiness_probe": {"initial_delay": 1, "period": 1, "failure_threshold": 120},
        }
        dep.update(deployment)
        name = f"deployment-{deployment['name']}.yml"
        (d / name).write_text(json.dumps(dep, indent=1))
        self.berth("online-deployment", "create", "-f", name,
                   *(["--all-traffic"] if all_traffic else []), cwd=d)

    def delete_endpoint(self, endpoint):
        try:
            self.berth("online-endpoint", "delete", "-n", endpoint, "--yes")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"deleting {endpoint}: {e}")

    def instance_port(self, endpoint, deployment):
        """The port of the deployment's ready instance (docs/api.md: the deployment document's
        `instances`)."""
        status, body = http("GET", f"{self.berth_url}/api/v1/online-endpoints/{endpoint}/"
                                   f"deployments/{deployment}",
                            headers={"Authorization": f"Bearer {self.admin_token}"})
        if status != 200:
            raise RuntimeError(f"deployment {endpoint}/{deployment}: {status} {body!r}")
        ready = [i["port"] for i in json.loads(body).get("instances", [])
                 if i.get("state") == "Ready" and i.get("current", True)]
        if not ready:
            raise RuntimeError(f"no ready instance in {body!r}")
        return ready[0]

    def wait_scoring(self, url, body, key):
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = []

        def ok():
            status, out = http("POST", url, body, headers)
            last[:] = [status, out]
            return status == 200

        try:
            wait_until(f"POST {url}", ok, 120)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; last answer: {last}")
        return json.loads(last[1]) if last[1][:1] in (b"{", b"[") else last[1]

    def models(self):
        d = self.tmp / "models"
        if not d.exists():
            subprocess.run([PYTHON, str(ROOT / "bench" / "make_models.py"), str(d)], check=True)
        return d


# ---------------------------------------------------------------------------------------------
# Reporting helpers.

def fmt_rps(x):
    return f"{x:,.0f}"


def fmt_us(x):
    return f"{x:,.0f}" if x == x else "–"


def row_cells(r):
    spread = f"{r['spread']:.1%}" + (" **(>5 %)**" if r["flagged"] else "")
    bad = r["non2xx"] + r["errors"]
    return [fmt_rps(r["rps"]), fmt_us(r["p50_us"]), fmt_us(r["p99_us"]), spread,
            str(r["attempts"]), str(bad)]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


RESULT_COLS = ["req/s", "p50 µs", "p99 µs", "spread", "attempts", "non-2xx + errors"]


class SectionFailed(RuntimeError):
    """A benchmark that failed but has a results section to report (what it did measure)."""

    def __init__(self, message, section):
        super().__init__(message)
        self.section = section


def verdict(ok):
    return "met" if ok else "**not met**"


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    """VmRSS of a process in MiB."""
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) / 1024 if m else float("nan")


# ---------------------------------------------------------------------------------------------
# B1: the gateway hop.

ORIGIN_CONF = """# B1 origin: return 200 with a small JSON body, 1 worker (bench/run.py)
{user}worker_processes 1;
pid {prefix}/origin-@PORT@.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {prefix}/tmp-origin-@PORT@;
  server {{
    listen 127.0.0.1:@PORT@;
    location / {{
      default_type application/json;
      return 200 '{{"result":[1.0,2.0]}}';
    }}
  }}
}}
"""

PROXY_CONF = """# B1 peer: nginx proxy_pass with keep-alive upstream, 1 worker (bench/run.py)
{user}worker_processes 1;
daemon off;
pid {prefix}/proxy.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {prefix}/tmp-proxy-body;
  proxy_temp_path {prefix}/tmp-proxy;
  upstream origin {{
    server 127.0.0.1:{origin_port};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def b1(bench):
    """B1 runs on a berthd of its own started with --sandbox=none: its origin must be one process
    that (a) and (b) reach on a host port, which a sandboxed instance never has. The hop measured
    is berthd's; a sandboxed custom command adds its socat relay on top (B4 and B2 measure the
    sandboxed private transport)."""
    p, url, token = bench.launch_berthd("b1-berthd", ["--sandbox=none"])
    shared = bench.berth_url, bench.admin_token
    bench.berth_url, bench.admin_token = url, token
    try:
        return b1_unsandboxed(bench)
    finally:
        bench.berth_url, bench.admin_token = shared
        bench.procs.stop(p)


def b1_unsandboxed(bench):
    tmp = bench.tmp / "b1"
    tmp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp / "origin.conf.in").write_text(ORIGIN_CONF.format(user=user, prefix=tmp))
    body = tmp / "request.json"
    body.write_text('{"data": [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]]}')

    # The origin is berth's instance: berthd starts it on the port it assigns ($PORT), and
    # (a) and (b) reach the same process.
    start_origin = (f"sed s/@PORT@/$PORT/g {tmp}/origin.conf.in > {tmp}/origin-$PORT.conf && "
                    f"exec {NGINX} -p {tmp}/ -e stderr -c {tmp}/origin-$PORT.conf "
                    f"-g 'daemon off;'")
    key = bench.deploy("b1-hop", {"name": "origin",
                                  "environment": {"command": ["/bin/sh", "-c", start_origin]}})
    berth_url = f"{bench.berth_url}/endpoints/b1-hop/score"
    bench.wait_scoring(berth_url, body.read_bytes(), key)
    origin_port = bench.instance_port("b1-hop", "origin")
    direct_url = f"http://127.0.0.1:{origin_port}/score"

    proxy_port = free_port()
    (tmp / "proxy.conf").write_text(PROXY_CONF.format(user=user, prefix=tmp, port=proxy_port,
                                                      origin_port=origin_port))
    proxy = bench.procs.start("nginx-proxy", [NGINX, "-p", f"{tmp}/", "-e", "stderr", "-c",
                                              str(tmp / "proxy.conf")],
                              cpus=bench.s.server_cpus, logdir=bench.tmp)
    proxy_url = f"http://127.0.0.1:{proxy_port}/score"
    wait_until("nginx proxy", lambda: http("POST", proxy_url, b"{}")[0] == 200, 30, proxy)

    lua_plain = write_lua(tmp, "plain", body, key)  # same bytes everywhere; only berth reads the key
    systems = [("(a) origin direct", direct_url), ("(b) nginx proxy_pass", proxy_url),
               ("(c) berthd (key auth)", berth_url)]
    results = {}
    for conns in (1, 64):
        for name, url in systems:
            results[(name, conns)] = bench.load(f"B1 {name} c={conns}", url, conns, lua_plain)
    bench.procs.stop(proxy)
    try:
        mirror_section = b1_mirror(bench, berth_url, lua_plain)
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
        log(f"B1 mirror case failed: {e}")
        mirror_section = f"#### B1 mirror case: not run\n\n```\n{str(e).strip()[-2000:]}\n```"
    bench.delete_endpoint("b1-hop")

    rows = [[name, f"c={c}", *row_cells(results[(name, c)])] for c in (1, 64) for name, _ in systems]
    added = []
    notes = []
    for c in (1, 64):
        a = results[(systems[0][0], c)]
        n = results[(systems[1][0], c)]
        b = results[(systems[2][0], c)]
        nginx_p50, berth_p50 = n["p50_us"] - a["p50_us"], b["p50_us"] - a["p50_us"]
        added.append([f"c={c}", fmt_us(nginx_p50), fmt_us(n["p99_us"] - a["p99_us"]),
                      fmt_us(berth_p50), fmt_us(b["p99_us"] - a["p99_us"]),
                      f"{berth_p50 / nginx_p50:.2f}×" if nginx_p50 > 0 else "–"])
        notes.append(f"- c={c}: berth added p50 ≤ 1.2× nginx's added p50: "
                     f"{berth_p50:.0f} vs {nginx_p50:.0f} µs (limit {1.2 * nginx_p50:.0f}): "
                     f"{verdict(berth_p50 <= 1.2 * nginx_p50)}")
        notes.append(f"- c={c}: berth throughput ≥ nginx proxy's: {fmt_rps(b['rps'])} vs "
                     f"{fmt_rps(n['rps'])} req/s ({b['rps'] / n['rps']:.2f}×): "
                     f"{verdict(b['rps'] >= n['rps'])}")
    return "\n\n".join([
        "### B1: gateway hop (nginx `return 200` origin, POST 54-byte JSON)",
        "berthd for B1 runs with `--sandbox=none` so the origin listens on a host port that (a) "
        "and (b) reach too; the rows measure berthd's hop without the sandbox's relay.",
        table(["system", "conns", *RESULT_COLS], rows),
        "Added over (a), µs:",
        table(["conns", "nginx added p50", "nginx added p99", "berth added p50",
               "berth added p99", "berth/nginx added p50"], added),
        "Targets (reported, not asserted):\n" + "\n".join(notes),
        mirror_section,
    ])


MIRROR_PERCENT = 50
MIRROR_DELAY_MS = 10
MIRROR_CONNS = 64


def mirror_counts(bench):
    """berth_mirror_requests_total of b1-hop by result (sent, failed, dropped)."""
    status, body = http("GET", f"{bench.berth_url}/metrics",
                        headers={"Authorization": f"Bearer {bench.admin_token}"})
    if status != 200:
        raise RuntimeError(f"/metrics: {status}")
    counts = {"sent": 0, "failed": 0, "dropped": 0}
    for line in body.decode().splitlines():
        if line.startswith("berth_mirror_requests_total{") and 'endpoint="b1-hop"' in line:
            m = re.search(r'result="(\w+)"\}\s+([\d.e+]+)$', line)
            if m:
                counts[m.group(1)] = counts.get(m.group(1), 0) + int(float(m.group(2)))
    return counts


def b1_mirror(bench, berth_url, lua):
    """B1's mirror case: berthd's CPU per primary request at c=64 without mirroring and with 50 %
    of the requests copied to a shadow deployment whose origin answers after 10 ms."""
    script = ROOT / "bench" / "peers" / "slow_origin.py"
    bench.add_deployment("b1-hop", {"name": "shadow", "environment": {"command": [
        "/bin/sh", "-c", f"exec {PYTHON} {script} $PORT {MIRROR_DELAY_MS}"]}})
    pid = bench.berthd.pid
    results = {}
    sent = {}
    for label, percent in (("no mirroring", 0), (f"{MIRROR_PERCENT} % mirrored", MIRROR_PERCENT)):
        bench.berth("online-endpoint", "update", "-n", "b1-hop", "--mirror-traffic",
                    f"shadow={percent}")
        bench.commands.append(shlex.join(bench.wrk_argv(berth_url, MIRROR_CONNS, bench.s.duration,
                                                        lua)) + f"  # mirror {percent} %")
        bench.wrk(berth_url, MIRROR_CONNS, bench.s.warmup, lua)

        def once():
            before = cpu_seconds(pid)
            r = bench.wrk(berth_url, MIRROR_CONNS, bench.s.duration, lua)
            r["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(r["requests"], 1)
            return r

        counts_before = mirror_counts(bench)
        r = bench.repeated(f"B1 mirror {percent} % c={MIRROR_CONNS}", once)
        counts_after = mirror_counts(bench)
        r["cpu_us"] = statistics.median(run["cpu_us"] for run in r["runs"])
        results[label] = r
        sent[label] = {k: counts_after.get(k, 0) - counts_before.get(k, 0) for k in counts_after}
        log(f"B1 mirror {percent} %: berthd {r['cpu_us']:.1f} µs CPU per primary request; "
            f"mirror counts {sent[label]}")
    bench.berth("online-endpoint", "update", "-n", "b1-hop", "--mirror-traffic", "shadow=0")

    off, on = results["no mirroring"], results[f"{MIRROR_PERCENT} % mirrored"]
    rows = [[label, *row_cells(r), f"{r['cpu_us']:.1f}"] for label, r in results.items()]
    cpu_ratio = on["cpu_us"] / off["cpu_us"] if off["cpu_us"] > 0 else float("inf")
    copies = sent[f"{MIRROR_PERCENT} % mirrored"]
    notes = [
        f"- berthd CPU per primary request with {MIRROR_PERCENT} % mirrored ≤ 1.3× without: "
        f"{on['cpu_us']:.1f} vs {off['cpu_us']:.1f} µs ({cpu_ratio:.2f}×): "
        f"{verdict(cpu_ratio <= 1.3)}",
        f"- primary throughput with / without mirroring: {fmt_rps(on['rps'])} / "
        f"{fmt_rps(off['rps'])} req/s ({on['rps'] / off['rps']:.2f}×)",
        f"- copies during all mirrored runs (warm-up excluded): sent {copies.get('sent', 0):,}, "
        f"failed {copies.get('failed', 0):,}, dropped (queue full) {copies.get('dropped', 0):,}",
    ]
    return "\n\n".join([
        f"#### B1 mirror case: {MIRROR_PERCENT} % copied to a shadow that answers after "
        f"{MIRROR_DELAY_MS} ms (c={MIRROR_CONNS})",
        "Same endpoint and origin as (c); a second deployment `shadow` runs "
        f"`bench/peers/slow_origin.py` (stdlib asyncio, one process, on the server core like "
        f"berthd and the origin) and gets `mirror_traffic: {{shadow: {MIRROR_PERCENT}}}`. berthd's "
        "CPU per primary request = its utime + stime over a run (/proc/<pid>/stat) ÷ the primary "
        "requests wrk completed; median of the runs.",
        table(["configuration", *RESULT_COLS, "berthd CPU µs / primary request"], rows),
        "Targets (reported, not asserted):\n" + "\n".join(notes),
    ])


# ---------------------------------------------------------------------------------------------
# B2: end to end TorchScript MLP: berth vs FastAPI vs the raw model.

def max_abs_diff(a, b):
    try:
        xa, xb = a["outputs"][0]["data"], b["outputs"][0]["data"]
        return max(abs(x - y) for x, y in zip(xa, xb)) if len(xa) == len(xb) else float("inf")
    except (KeyError, IndexError, TypeError):
        return float("nan")


def raw_ceiling(bench, model_file, features, label):
    exe = bench.build / "bench" / "berth-bench-raw"
    if not exe.exists():
        raise RuntimeError(f"{exe} is not built (cmake target berth-bench-raw, BERTH_WITH_TORCH)")
    dur = seconds(bench.s.duration)
    batches = ["1", "16"]
    argv = ["taskset", "-c", bench.s.server_cpus, str(exe), str(model_file), str(features)]
    bench.commands.append(shlex.join(argv + [str(dur)] + batches))
    subprocess.run(argv + [str(seconds(bench.s.warmup))], check=True, capture_output=True)
    batched = []

    def once():
        out = subprocess.run(argv + [str(dur)] + batches, check=True, capture_output=True,
                             text=True).stdout
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        batched.append(lines[1])
        one = lines[0]
        return {"rps": one["inferences_per_s"], "p50_us": one["call_p50_us"],
                "p99_us": one["call_p99_us"]}

    r = bench.repeated(label, once)
    r["batch16_rps"] = statistics.median(b["inferences_per_s"] for b in batched)
    r["non2xx"] = r["errors"] = 0
    return r


def b2(bench):
    models = bench.models()
    repo = models / "mlp-batching"
    model_file = repo / "mlp" / "1" / "model.pt"
    body = models / "mlp.request.json"
    tmp = bench.tmp / "b2"
    tmp.mkdir()
    results = {}

    # (2) FastAPI + uvicorn, 1 worker, 1 torch thread.
    port = free_port()
    fastapi = bench.procs.start(
        "fastapi", [PYTHON, "-m", "uvicorn", "fastapi_mlp:app", "--app-dir",
                    str(ROOT / "bench" / "peers"), "--host", "127.0.0.1", "--port", str(port),
                    "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cpus=bench.s.server_cpus, env=dict(os.environ, BENCH_MODEL=str(model_file)),
        logdir=bench.tmp)
    fastapi_url = f"http://127.0.0.1:{port}/v2/models/mlp/infer"
    wait_until("fastapi", lambda: http("GET", f"http://127.0.0.1:{port}/v2/health/ready")[0] == 200,
               60, fastapi)
    fastapi_out = bench.wait_scoring(fastapi_url, body.read_bytes(), None)
    lua_fastapi = write_lua(tmp, "fastapi", body)
    for c in (1, 16):
        results[("FastAPI + uvicorn", c)] = bench.load(f"B2 fastapi c={c}", fastapi_url, c,
                                                       lua_fastapi)
    bench.procs.stop(fastapi)

    # (3) the raw model in-process.
    raw_error = None
    try:
        results[("raw TorchScript (in-process)", 1)] = raw_ceiling(bench, model_file, 64, "B2 raw")
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        raw_error = f"raw ceiling not run: {e}"
        log(f"B2 {raw_error}")

    # (1) berth end to end. Its failure still reports the peers' rows.
    berth_error = None
    berth_out = None
    try:
        key = bench.deploy("b2-mlp", {"name": "blue", "model": {"name": "mlp", "version": 1,
                                                                "path": str(repo),
                                                                "type": "triton_model"}})
        berth_url = f"{bench.berth_url}/endpoints/b2-mlp/v2/models/mlp/infer"
        berth_out = bench.wait_scoring(berth_url, body.read_bytes(), key)
        lua_berth = write_lua(tmp, "berth", body, key)
        for c in (1, 16, 64):
            results[("berth", c)] = bench.load(f"B2 berth c={c}", berth_url, c, lua_berth)
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
        berth_error = str(e).strip()[-2000:]
        log(f"B2 berth failed: {berth_error}")
    bench.delete_endpoint("b2-mlp")

    order = [("berth", 1), ("berth", 16), ("berth", 64), ("FastAPI + uvicorn", 1),
             ("FastAPI + uvicorn", 16), ("raw TorchScript (in-process)", 1)]
    rows = []
    for name, c in order:
        r = results.get((name, c))
        if r is None:
            continue
        conns = f"c={c}" if "raw" not in name else "1 thread, [1,64]"
        rows.append([name, conns, *row_cells(r)])
    raw = results.get(("raw TorchScript (in-process)", 1))
    fa16 = results[("FastAPI + uvicorn", 16)]
    notes = [f"- raw ceiling at batch 16: {fmt_rps(raw['batch16_rps'])} inferences/s "
             "(the raw row's p50/p99 are per forward() call)" if raw else f"- {raw_error}",
             f"- outputs: berth vs FastAPI max |diff| = {max_abs_diff(berth_out, fastapi_out):.2e}"]
    if berth_error is not None:
        return "\n\n".join([
            "### B2: TorchScript MLP 64-256-256-10, OIP JSON, batch 1 per request",
            table(["system", "conns", *RESULT_COLS], rows),
            "\n".join(notes[:1]),
            f"**berth not run**:\n\n```\n{berth_error}\n```"])
    best_berth = max(results[("berth", c)]["rps"] for c in (1, 16, 64))
    b16 = results[("berth", 16)]["rps"]
    notes.append(f"- berth ≥ 4× FastAPI's throughput (c=16): {fmt_rps(b16)} vs "
                 f"{fmt_rps(fa16['rps'])} req/s ({b16 / fa16['rps']:.2f}×): "
                 f"{verdict(b16 >= 4 * fa16['rps'])}")
    if raw is not None:
        notes.append(f"- berth ≥ 0.5× the raw ceiling (best of c=1/16/64): {fmt_rps(best_berth)} vs "
                     f"{fmt_rps(raw['rps'])} inferences/s ({best_berth / raw['rps']:.2f}×): "
                     f"{verdict(best_berth >= 0.5 * raw['rps'])}")
    return "\n\n".join([
        "### B2: TorchScript MLP 64-256-256-10, OIP JSON, batch 1 per request",
        "berth: `triton_model` deployment, `dynamic_batching { max_queue_delay_microseconds: "
        f"{QUEUE_DELAY_US} }}`, INTRA_OP_THREAD_COUNT 1, key auth, `POST /endpoints/<e>/v2/models/"
        "mlp/infer`. FastAPI: `bench/peers/fastapi_mlp.py`, 1 uvicorn worker, 1 torch thread. "
        "Raw: `berth-bench-raw`, forward() in a loop, 1 thread, InferenceMode.",
        table(["system", "conns", *RESULT_COLS], rows),
        "Notes and targets (reported, not asserted):\n" + "\n".join(notes),
    ])


# ---------------------------------------------------------------------------------------------
# B3: dynamic batching on vs off.

def b3(bench):
    models = bench.models()
    tmp = bench.tmp / "b3"
    tmp.mkdir()
    results = {}
    for model in ("tiny", "mlp"):
        body = models / f"{model}.request.json"
        for batching in ("on", "off"):
            repo = models / (f"{model}-batching" if batching == "on" else f"{model}-nobatching")
            endpoint = f"b3-{model}-{batching}"
            key = bench.deploy(endpoint, {"name": "blue", "model": {
                "name": model, "version": 1, "path": str(repo), "type": "triton_model"}})
            url = f"{bench.berth_url}/endpoints/{endpoint}/v2/models/{model}/infer"
            bench.wait_scoring(url, body.read_bytes(), key)
            lua = write_lua(tmp, endpoint, body, key)
            for c in (1, 8, 32):
                results[(model, batching, c)] = bench.load(f"B3 {model} batching {batching} c={c}",
                                                           url, c, lua)
            bench.delete_endpoint(endpoint)

    rows = []
    notes = []
    for model, title in (("tiny", "tiny 16-64-4"), ("mlp", "MLP 64-256-256-10")):
        for c in (1, 8, 32):
            on, off = results[(model, "on", c)], results[(model, "off", c)]
            for batching, r in (("on", on), ("off", off)):
                rows.append([title, batching, f"c={c}", *row_cells(r)])
        ratios = ", ".join(
            f"c={c} {results[(model, 'on', c)]['rps'] / results[(model, 'off', c)]['rps']:.2f}×"
            for c in (1, 8, 32))
        ok = min(results[(model, "on", c)]["rps"] / results[(model, "off", c)]["rps"]
                 for c in (1, 8, 32)) >= 0.95
        notes.append(f"- {title}: on/off throughput {ratios}; target ≥ 0.95× at every c: "
                     f"{verdict(ok)}")
        on1, off1 = results[(model, "on", 1)], results[(model, "off", 1)]
        # Work-conserving batching (docs/worker.md): a lone request must not wait at all.
        notes.append(f"- {title}: c=1 batched p50 ≤ unbatched p50 + 10 µs: "
                     f"{on1['p50_us']:.0f} vs {off1['p50_us']:.0f} + 10: "
                     f"{verdict(on1['p50_us'] <= off1['p50_us'] + 10)}")
    return "\n\n".join([
        "### B3: dynamic batching on vs off (berth end to end)",
        f"`dynamic_batching {{ max_queue_delay_microseconds: {QUEUE_DELAY_US} }}` vs no "
        "`dynamic_batching`; max_batch_size 64, 1 instance, INTRA_OP_THREAD_COUNT 1.",
        table(["model", "batching", "conns", *RESULT_COLS], rows),
        "Targets (reported, not asserted):\n" + "\n".join(notes),
    ])


# ---------------------------------------------------------------------------------------------
# B4: a scoring script (score.py) end to end: berth vs gunicorn + Flask vs FastAPI + uvicorn.

B4_SCORE = '''\
# B4's scoring script (written by bench/run.py): Azure ML's score.py contract.
import json
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "model.joblib"))


def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"], dtype=np.float64)
    return model.predict(data).tolist()
'''

# Run by PYTHON with argv [model file, request file]: trains the model on synthetic data (fixed
# seed), saves it, writes a 2-row request body and prints the model's answer to it.
B4_TRAIN = '''\
import json
import sys

import joblib
import numpy as np
from sklearn.linear_model import LinearRegression

rng = np.random.default_rng(4)
x = rng.normal(size=(1000, 10))
y = x @ np.linspace(-2.0, 3.0, 10) + 0.25 + rng.normal(scale=0.1, size=1000)
model = LinearRegression().fit(x, y)
joblib.dump(model, sys.argv[1])
rows = np.round(rng.normal(size=(2, 10)), 4).tolist()
with open(sys.argv[2], "w") as f:
    json.dump({"data": rows}, f)
print(json.dumps(model.predict(np.asarray(rows)).tolist()))
'''

B4_CONNS = (1, 8)
B4_MAX_CONCURRENT = 16  # berth's max_concurrent_requests_per_instance: c=8 is never refused


def tree_pids(root):
    """root and its descendants (by /proc/<pid>/stat's parent field)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def tree_cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            pass  # exited during the run: its time is lost, as its parent has not reaped it
    return total


def tree_names(pids):
    """"berthd, python3 ×2"-style summary of the processes' names (/proc/<pid>/comm)."""
    names = {}
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return ", ".join(n + (f" ×{k}" if k > 1 else "") for n, k in sorted(names.items()))


def b4_diff(a, b):
    """max |a_i - b_i| of two lists of numbers; inf when they are not such lists of one length."""
    if (not isinstance(a, list) or not isinstance(b, list) or len(a) != len(b)
            or not all(isinstance(x, (int, float)) for x in a + b)):
        return float("inf")
    return max(abs(x - y) for x, y in zip(a, b))


def b4_load(bench, label, url, conns, lua, root_pid):
    """bench.load() plus the CPU the server's process tree (root_pid and its descendants) used
    per request, median of the runs (in r["cpu_us"]); r["procs"] names the processes counted."""
    bench.commands.append(shlex.join(bench.wrk_argv(url, conns, bench.s.duration, lua)))
    bench.wrk(url, conns, bench.s.warmup, lua)

    counted = []

    def once():
        pids = tree_pids(root_pid)
        counted[:] = [tree_names(pids)]
        before = tree_cpu_seconds(pids)
        r = bench.wrk(url, conns, bench.s.duration, lua)
        r["cpu_us"] = (tree_cpu_seconds(pids) - before) * 1e6 / max(r["requests"], 1)
        return r

    r = bench.repeated(label, once)
    r["cpu_us"] = statistics.median(run["cpu_us"] for run in r["runs"])
    r["procs"] = counted[0]
    return r


def b4_peer(bench, name, argv, env, url, body):
    """Starts a peer (pinned to the server cores), checks its answer, returns (process, answer)."""
    p = bench.procs.start(name, argv, cpus=bench.s.server_cpus, env=env, logdir=bench.tmp)
    base = url.rsplit("/", 1)[0]
    wait_until(name, lambda: http("GET", base + "/")[0] == 200, 60, p)
    return p, bench.wait_scoring(url, body, None)


def b4(bench):
    tmp = bench.tmp / "b4"
    code, model_dir = tmp / "code", tmp / "model"
    code.mkdir(parents=True)
    model_dir.mkdir()
    (code / "score.py").write_text(B4_SCORE)
    body_file = tmp / "request.json"
    expected = json.loads(subprocess.run(
        [PYTHON, "-c", B4_TRAIN, str(model_dir / "model.joblib"), str(body_file)], check=True,
        capture_output=True, text=True).stdout)
    body = body_file.read_bytes()
    lua_plain = write_lua(tmp, "plain", body_file)
    # Azure's inference-server environment, as berth's runner gets it.
    env = dict(os.environ, AML_APP_ROOT=str(code), AZUREML_ENTRY_SCRIPT="score.py",
               AZUREML_MODEL_DIR=str(tmp), WORKER_COUNT="1", PYTHONDONTWRITEBYTECODE="1")
    peers_dir = str(ROOT / "bench" / "peers")
    results, answers = {}, {}

    def check(name, answer):
        answers[name] = answer
        diff = b4_diff(answer, expected)
        if not diff <= 1e-9:
            raise RuntimeError(f"B4 {name} answers {answer!r}; the model predicts {expected!r}")

    # (b) gunicorn + Flask, 1 sync worker: Azure's inference server's stack.
    flask_name = "gunicorn + Flask"
    port = free_port()
    p, out = b4_peer(bench, "gunicorn", [
        PYTHON, "-m", "gunicorn", "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}",
        "--chdir", peers_dir, "--log-level", "warning", "flask_score:app"], env,
        f"http://127.0.0.1:{port}/score", body)
    check(flask_name, out)
    for c in B4_CONNS:
        results[(flask_name, c)] = b4_load(bench, f"B4 gunicorn c={c}",
                                           f"http://127.0.0.1:{port}/score", c, lua_plain, p.pid)
    bench.procs.stop(p)

    # (c) FastAPI + uvicorn, 1 worker.
    fastapi_name = "FastAPI + uvicorn"
    port = free_port()
    p, out = b4_peer(bench, "uvicorn-score", [
        PYTHON, "-m", "uvicorn", "fastapi_score:app", "--app-dir", peers_dir, "--host",
        "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
        "warning"], env, f"http://127.0.0.1:{port}/score", body)
    check(fastapi_name, out)
    for c in B4_CONNS:
        results[(fastapi_name, c)] = b4_load(bench, f"B4 fastapi c={c}",
                                             f"http://127.0.0.1:{port}/score", c, lua_plain, p.pid)
    bench.procs.stop(p)

    # (a) berth end to end: a managed scoring-script deployment through the CLI, key auth.
    berth_name = "berth"
    berth_error = None
    try:
        key = bench.deploy("b4-script", {
            "name": "blue",
            "model": {"name": "b4-linear", "version": 1, "path": str(model_dir)},
            "code_configuration": {"code": str(code), "scoring_script": "score.py"},
            "environment": {"python": PYTHON},
            "environment_variables": {"WORKER_COUNT": 1},
            "request_settings": {"max_concurrent_requests_per_instance": B4_MAX_CONCURRENT,
                                 "max_queue_wait_ms": 60000, "request_timeout_ms": 60000}})
        url = f"{bench.berth_url}/endpoints/b4-script/score"
        check(berth_name, bench.wait_scoring(url, body, key))
        lua_berth = write_lua(tmp, "berth", body_file, key)
        for c in B4_CONNS:
            r = b4_load(bench, f"B4 berth c={c}", url, c, lua_berth, bench.berthd.pid)
            if r["non2xx"] or r["errors"]:
                raise RuntimeError(
                    f"berth at c={c}: {r['non2xx']} non-2xx responses and {r['errors']} socket "
                    f"errors in the measured runs (max_concurrent_requests_per_instance "
                    f"{B4_MAX_CONCURRENT}); the measurement is void")
            results[(berth_name, c)] = r
    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
        berth_error = str(e).strip()[-2000:]
        log(f"B4 berth failed: {berth_error}")
    bench.delete_endpoint("b4-script")

    systems = [berth_name, flask_name, fastapi_name]
    rows = [[name, f"c={c}", *row_cells(results[(name, c)]), f"{results[(name, c)]['cpu_us']:.0f}"]
            for c in B4_CONNS for name in systems if (name, c) in results]
    versions = cmd_version([PYTHON, "-c", (
        "import gunicorn, flask, fastapi, uvicorn, sklearn, numpy; "
        "print('gunicorn', gunicorn.__version__, '· Flask', flask.__version__, '· fastapi', "
        "fastapi.__version__, '· uvicorn', uvicorn.__version__, '· scikit-learn', "
        "sklearn.__version__, '· numpy', numpy.__version__)")])
    intro = (
        "One `score.py` (Azure's contract: `init()` joblib-loads a scikit-learn LinearRegression "
        "on 10 features, trained at bench time with a fixed seed; `run(raw_data)` does "
        "`json.loads(raw_data)[\"data\"]`, predicts with numpy, returns a list), POST of a 2-row "
        f"`{{\"data\": [[10 floats], [10 floats]]}}` ({len(body)} bytes). "
        "berth: managed deployment with `code_configuration` + `environment.python: "
        f"{PYTHON}`, WORKER_COUNT=1, max_concurrent_requests_per_instance {B4_MAX_CONCURRENT}, "
        "key auth, `POST /endpoints/<e>/score`. gunicorn + Flask: `bench/peers/flask_score.py`, "
        "`gunicorn -w 1 -k sync` (what azureml-inference-server-http runs: init() once per "
        "worker, run(raw body)). FastAPI + uvicorn: `bench/peers/fastapi_score.py`, 1 worker. "
        "Server CPU: utime + stime of the system's process tree (the server and all its "
        "descendants, listed below) over a run ÷ the requests wrk completed, median of the runs. "
        f"{versions}.")
    notes = [f"- answers: {name} vs the model's own predict() max |diff| = "
             f"{b4_diff(answers[name], expected):.2e}" for name in systems if name in answers]
    notes += [f"- server CPU counted for {name}: {results[(name, 1)]['procs']}" for name in systems
              if (name, 1) in results]
    if berth_name in answers:
        notes.append(f"- answers: berth vs gunicorn + Flask max |diff| = "
                     f"{b4_diff(answers[berth_name], answers[flask_name]):.2e}")
    title = "### B4: scoring script (score.py, scikit-learn) end to end"
    if berth_error is not None:
        # The peers' rows are kept, and the run fails.
        raise SectionFailed("berth: " + (berth_error.splitlines() or ["?"])[-1], "\n\n".join([
            title, intro,
            table(["system", "conns", *RESULT_COLS, "server CPU µs / request"], rows),
            "\n".join(notes),
            f"**berth failed**:\n\n```\n{berth_error}\n```"]))
    ratios = []
    for c in B4_CONNS:
        b, g, f = (results[(n, c)] for n in systems)
        ratio = b["rps"] / g["rps"]
        ratios.append([f"c={c}", f"{ratio:.2f}×", f"{b['rps'] / f['rps']:.2f}×",
                       f"{b['p50_us'] / g['p50_us']:.2f}×", f"{b['p99_us'] / g['p99_us']:.2f}×",
                       f"{b['cpu_us'] / g['cpu_us']:.2f}×"])
        notes.append(f"- c={c}: berth throughput ≥ 2× gunicorn + Flask's: {fmt_rps(b['rps'])} vs "
                     f"{fmt_rps(g['rps'])} req/s ({ratio:.2f}×): {verdict(ratio >= 2)}")
    berth1, flask1 = results[(berth_name, 1)], results[(flask_name, 1)]
    notes.append(f"- c=1: berth p50 ≤ 0.6× gunicorn + Flask's: {fmt_us(berth1['p50_us'])} vs "
                 f"{fmt_us(flask1['p50_us'])} µs ({berth1['p50_us'] / flask1['p50_us']:.2f}×, "
                 f"limit {0.6 * flask1['p50_us']:.0f} µs): "
                 f"{verdict(berth1['p50_us'] <= 0.6 * flask1['p50_us'])}")
    return "\n\n".join([
        title, intro,
        table(["system", "conns", *RESULT_COLS, "server CPU µs / request"], rows),
        "berth ÷ peers:",
        table(["conns", "req/s ÷ gunicorn", "req/s ÷ FastAPI", "p50 ÷ gunicorn",
               "p99 ÷ gunicorn", "CPU/request ÷ gunicorn"], ratios),
        "Notes and targets (reported, not asserted):\n" + "\n".join(notes),
    ])


# ---------------------------------------------------------------------------------------------
# B6: management writes and lists as the fleet grows.

B6_SIZES = (10, 1000, 5000)
B6_SIZES_QUICK = (10, 200)
B6_BATCH = 250  # creates/s and deletes/s are measured over the last this-many (or all) writes
B6_TARGET_CREATES = 200


class ApiConnection:
    """One keep-alive HTTP/1.1 connection to a berthd's management API, as a sequential client
    (a script or the CLI in a loop) would hold; reconnects once if berthd closed it."""

    def __init__(self, url, token):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = None

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (HTTPException, OSError) as e:
                self.close()
                if attempt == 2:
                    raise RuntimeError(f"{method} {path}: {e}") from e
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def b6_name(i):
    return f"b6-{i:05d}"


def b6_list_all(api, top=None):
    """Fetches every page of the endpoint list, following nextLink -> (items, pages)."""
    path = "/api/v1/online-endpoints" + (f"?$top={top}" if top else "")
    items = pages = 0
    while path:
        status, body = api.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        doc = json.loads(body)
        items += len(doc["value"])
        pages += 1
        link = doc.get("nextLink")
        path = None
        if link:
            parts = urllib.parse.urlsplit(link)
            path = parts.path + ("?" + parts.query if parts.query else "")
    return items, pages


def b6_timed(runs, fn):
    """Median wall time of `runs` calls of fn(), in ms, and fn's last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), result


def b6(bench):
    sizes = B6_SIZES_QUICK if bench.s.quick else B6_SIZES
    idle_s = 2.0 if bench.s.quick else 5.0
    proc, url, token = bench.launch_berthd("berthd-b6")
    api = ApiConnection(url, token)
    # This process is the client: on the client cores, like wrk elsewhere.
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(c) for c in bench.s.client_cpus.split(",")})
    rows, measured = [], []
    count = 0
    deadline = time.monotonic() + bench.s.b6_budget

    def create(i):
        status, body = api.request("PUT", f"/api/v1/online-endpoints/{b6_name(i)}",
                                   {"name": b6_name(i), "auth_mode": "key"})
        if status != 201:
            raise RuntimeError(f"PUT {b6_name(i)}: {status} {body[:300]!r}")

    def gone(name):
        return api.request("GET", f"/api/v1/online-endpoints/{name}")[0] == 404

    try:
        for size in sizes:
            stamps = [time.perf_counter()]
            while count < size and time.monotonic() < deadline:
                create(count)
                count += 1
                stamps.append(time.perf_counter())
            if len(stamps) < 2:
                break
            batch = min(B6_BATCH, len(stamps) - 1)
            creates = batch / (stamps[-1] - stamps[-1 - batch])
            log(f"B6 {count} endpoints: {creates:,.0f} creates/s over the last {batch}")
            # Endpoints are Succeeded on create; give the supervisor a bounded moment to settle
            # before the idle window (its work after writes counts as idle CPU otherwise).
            last = b6_name(count - 1)
            wait_until(f"{last} Succeeded", lambda: json.loads(api.request(
                "GET", f"/api/v1/online-endpoints/{last}")[1]).get("provisioning_state")
                == "Succeeded", 60, proc)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(idle_s)  # the measurement window, not a wait for a state
            idle = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
            rss = rss_mib(proc.pid)
            page_ms, _ = b6_timed(5, lambda: api.request("GET", "/api/v1/online-endpoints"))
            all_ms, (items, pages) = b6_timed(3, lambda: b6_list_all(api))
            all_max_ms, (_, pages_max) = b6_timed(3, lambda: b6_list_all(api, 1000))
            if items != count:
                raise RuntimeError(f"the list has {items} endpoints, {count} were created")
            # Deletes: the newest `batch` go (202 each), then come back.
            doomed = list(range(count - batch, count))
            t_first = time.perf_counter()
            for i in doomed:
                status, body = api.request("DELETE", f"/api/v1/online-endpoints/{b6_name(i)}")
                if status != 202:
                    raise RuntimeError(f"DELETE {b6_name(i)}: {status} {body[:300]!r}")
            t_accepted = time.perf_counter()
            for i in doomed:
                wait_until(f"{b6_name(i)} gone", lambda i=i: gone(b6_name(i)), 120, proc)
            t_gone = time.perf_counter()
            deletes = batch / (t_accepted - t_first)
            t_re = time.perf_counter()
            for i in doomed:
                create(i)
            recreates = batch / (time.perf_counter() - t_re)
            log(f"B6 {count}: {deletes:,.0f} deletes/s, all gone after "
                f"{t_gone - t_first:.2f} s, {recreates:,.0f} re-creates/s; list {all_ms:.1f} ms "
                f"({pages} pages), page {page_ms:.1f} ms; idle {idle:.2f} % CPU, {rss:.0f} MiB")
            reached = f"{count:,}" + ("" if count == size else f" (of {size:,}: budget spent)")
            rows.append([reached, f"{creates:,.0f} ({batch})", f"{deletes:,.0f}",
                         f"{t_gone - t_first:.2f}", f"{recreates:,.0f}", f"{page_ms:.1f}",
                         f"{all_ms:.1f} ({pages})", f"{all_max_ms:.1f} ({pages_max})",
                         f"{idle:.2f}", f"{rss:.0f}"])
            measured.append({"size": count, "creates": creates, "deletes": deletes,
                             "idle": idle, "rss": rss})
            if count < size:
                break
    finally:
        os.sched_setaffinity(0, affinity)
        api.close()
        bench.procs.stop(proc)

    notes = []
    if measured:
        small, big = measured[0], measured[-1]
        target_row = next((m for m in measured if m["size"] >= 5000), None)
        if target_row is not None:
            notes.append(f"- ≥ {B6_TARGET_CREATES} creates/s at 5,000 endpoints from one sequential "
                         f"client: {target_row['creates']:,.0f}/s: "
                         f"{verdict(target_row['creates'] >= B6_TARGET_CREATES)}")
        else:
            notes.append(f"- ≥ {B6_TARGET_CREATES} creates/s at 5,000 endpoints: 5,000 not "
                         f"reached (largest: {big['size']:,}, {big['creates']:,.0f} creates/s)")
        notes.append(f"- per-write cost flat in the number of endpoints: creates/s at "
                     f"{big['size']:,} ÷ at {small['size']:,} = "
                     f"{big['creates'] / small['creates']:.2f}×, deletes/s "
                     f"{big['deletes'] / small['deletes']:.2f}× (1.00× = flat)")
        notes.append(f"- idle CPU flat: {small['idle']:.2f} % at {small['size']:,} → "
                     f"{big['idle']:.2f} % at {big['size']:,}; RSS {small['rss']:.0f} → "
                     f"{big['rss']:.0f} MiB")
    return "\n\n".join([
        "### B6: management writes and lists as the fleet grows",
        "A fresh berthd (its own data dir; pinned to the server cores), one sequential client "
        "(this script, pinned to the client cores) on one keep-alive connection: "
        "`PUT /api/v1/online-endpoints/<name>` (`auth_mode: key`, no deployments) up to each "
        f"size. creates/s: over the last {B6_BATCH} creates (all of them below that). Then: "
        f"idle CPU over {idle_s:.0f} s and RSS of berthd; list times (median of 5 for one "
        "default page of 100, of 3 for all pages by nextLink); the newest "
        f"{B6_BATCH} (or all) deleted one after another (deletes/s: the 202s; gone: until "
        f"each reads 404), then re-created. Creating stops after BENCH_B6_BUDGET="
        f"{bench.s.b6_budget:.0f}s; a size not reached is marked.",
        table(["endpoints", "creates/s (last n)", "deletes/s", "gone after s", "re-creates/s",
               "list 1 page ms", "list all ms (pages of 100)", "list all ms ($top=1000)",
               "idle CPU %", "RSS MiB"], rows),
        "Targets (reported, not asserted):\n" + "\n".join(notes),
    ])


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# B5: batch scheduling overhead.

B5_FILES = 10_000
B5_MINI_BATCH = 10
B5_WORKERS = 2
B5_RUNS = 3
B5_DRIVER = """\
import os


def init():
    pass


def run(mini_batch):
    return [os.path.basename(path) for path in mini_batch]
"""


def b5(bench):
    """B5: 10,000 small files through a driver that does almost nothing, on 2 workers
    (instance_count 1 x max_concurrency_per_instance 2, mini_batch_size 10: 1,000 mini-batches),
    against the same run() over the same mini-batches in a plain Python loop in 2 processes
    (bench/peers/batch_loop.py). berth's time runs from the invoke call to the job being seen
    Completed (polled every 10 ms); the loop's from its start to its exit. Target: berth >= 0.9x
    the loop's files/s (scheduler overhead <= 10 %). Both run on the server cores. "While
    running" is the span from the first run() call to the end of the last (berth: from the job's
    processed_mini-batches.csv; the loop: timed inside its processes)."""
    p, url, token = bench.launch_berthd("berthd-b5", ["--batch-max-workers", str(B5_WORKERS)])
    data = bench.tmp / "berthd-b5-data"
    env = dict(os.environ, BERTH_URL=url, BERTH_TOKEN=token)

    def cli(*args, cwd=None):
        out = subprocess.run([str(bench.build / "src" / "berth"), *args], capture_output=True,
                             text=True, env=env, cwd=cwd, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)}: {out.stderr}{out.stdout}")
        return out.stdout

    work = bench.tmp / "b5"
    (work / "code").mkdir(parents=True, exist_ok=True)
    (work / "code" / "driver.py").write_text(B5_DRIVER)
    (work / "model").mkdir(exist_ok=True)
    (work / "model" / "weights.txt").write_text("none\n")
    inputs = data / "datastores" / "workspaceblobstore" / "b5-input"
    inputs.mkdir(parents=True, exist_ok=True)
    for i in range(B5_FILES):
        (inputs / f"file-{i:05d}.txt").write_text(f"{i}\n")
    (work / "endpoint.yml").write_text(json.dumps({"name": "b5-batch"}))
    (work / "deployment.yml").write_text(json.dumps({
        "name": "noop", "endpoint_name": "b5-batch", "type": "model",
        "model": {"name": "b5-model", "path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "driver.py"},
        "resources": {"instance_count": 1},
        "settings": {"max_concurrency_per_instance": B5_WORKERS,
                     "mini_batch_size": B5_MINI_BATCH, "output_action": "append_row",
                     "retry_settings": {"max_retries": 0, "timeout": 300}}}))
    cli("batch-endpoint", "create", "-f", "endpoint.yml", cwd=work)
    cli("batch-deployment", "create", "-f", "deployment.yml", "--set-default", cwd=work)

    def berth_run(n):
        began = time.monotonic()
        job = cli("batch-endpoint", "invoke", "-n", "b5-batch", "--input",
                  "azureml://datastores/workspaceblobstore/paths/b5-input",
                  "--output-path", f"azureml://datastores/workspaceblobstore/paths/b5-out-{n}",
                  "--job-name", f"b5-run-{n}").strip()
        view = {}
        while time.monotonic() - began < 600:
            status, body = http("GET", f"{url}/api/v1/jobs/{job}",
                                headers={"Authorization": f"Bearer {token}"})
            view = json.loads(body)
            if view.get("status") in ("Completed", "Failed", "Canceled"):
                break
            time.sleep(0.01)
        took = time.monotonic() - began
        if view.get("status") != "Completed":
            raise RuntimeError(f"B5 job {job} ended {view.get('status')}: {view.get('error')}")
        out = data / "datastores" / "workspaceblobstore" / f"b5-out-{n}" / "predictions.csv"
        lines = out.read_text().splitlines()
        if len(lines) != B5_FILES:
            raise RuntimeError(f"B5: {len(lines)} output lines, expected {B5_FILES}")
        # The span of the run() calls, from the job's report of each try (finished_at, seconds).
        report = data / "jobs" / job / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
        starts, ends = [], []
        with open(report) as f:
            for row in csv.DictReader(f):
                end = datetime.datetime.strptime(row["finished_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                ends.append(end.timestamp())
                starts.append(end.timestamp() - float(row["elapsed_seconds"]))
        return took, max(ends) - min(starts)

    def loop_run(n):
        out = work / f"loop-{n}.csv"
        began = time.monotonic()
        # On the same cores as berthd and its workers.
        done = subprocess.run(["taskset", "-c", bench.s.server_cpus,
                        "/usr/bin/python3", str(ROOT / "bench" / "peers" / "batch_loop.py"),
                        str(work / "code" / "driver.py"), str(inputs), str(out),
                        "--mini-batch-size", str(B5_MINI_BATCH),
                        "--processes", str(B5_WORKERS)], check=True, timeout=600,
                              capture_output=True, text=True)
        took = time.monotonic() - began
        if len(out.read_text().splitlines()) != B5_FILES:
            raise RuntimeError("B5: the loop's output is incomplete")
        return took, json.loads(done.stdout)["run_seconds"]

    berth_runs, loop_runs = [], []
    for n in range(B5_RUNS):  # alternated, so drift hits both alike
        loop_runs.append(loop_run(n))
        berth_runs.append(berth_run(n))
    bench.procs.stop(p)

    def medians(runs):
        return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)

    berth_total, berth_steady = medians(berth_runs)
    loop_total, loop_steady = medians(loop_runs)
    total_ratio = loop_total / berth_total
    steady_ratio = loop_steady / berth_steady

    def row(name, total, steady, runs):
        return [name, f"{B5_FILES / total:,.0f}", f"{total:.3f}", f"{B5_FILES / steady:,.0f}",
                f"{steady:.3f}", " / ".join(f"{t:.3f}" for t, _ in runs)]

    rows = [row("berth (batch endpoint job, sandboxed workers)", berth_total, berth_steady,
                berth_runs),
            row("plain Python loop, 2 processes", loop_total, loop_steady, loop_runs)]
    return "\n\n".join([
        "### B5: batch scheduling overhead",
        b5.__doc__.strip().replace("\n    ", "\n"),
        table(["system", "files/s end to end", "end to end s", "files/s while running",
               "running s", "end-to-end runs (s)"], rows),
        f"While running (first run() call to the last one's end) berth / loop: "
        f"**{steady_ratio:.2f}×** (target ≥ 0.9×: {verdict(steady_ratio >= 0.9)}). End to end "
        f"(berth: invoke, split, starting the sandboxed workers, finalizing; the loop: starting "
        f"its processes): **{total_ratio:.2f}×** (target ≥ 0.9×: {verdict(total_ratio >= 0.9)})."])


BENCHMARKS = {"B1": b1, "B2": b2, "B3": b3, "B4": b4, "B5": b5, "B6": b6}


def cmd_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        first = (out.stdout + out.stderr).strip().splitlines()[0]
        # `wrk -v` exits 1 after printing its version; a missing Python module is a traceback.
        return "?" if first.startswith("Traceback") else first
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_lines(build_dir):
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = cmd_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    # The binaries measured may come from another tree (a baseline build).
    source = ROOT
    cache = Path(build_dir) / "CMakeCache.txt"
    if cache.exists():
        m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache.read_text(), re.M)
        if m:
            source = Path(m.group(1))
    built = cmd_version(["git", "-C", str(source), "rev-parse", "--short", "HEAD"])
    torch_v = cmd_version([PYTHON, "-c", "import torch, fastapi, uvicorn; print('torch', "
                           "torch.__version__, '· fastapi', fastapi.__version__, '· uvicorn', "
                           "uvicorn.__version__)"])
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- git commit: `{commit}`" + (" (with uncommitted changes)" if dirty else "")
        + (f"; berthd measured built from `{built}` ({build_dir})" if built != commit else ""),
        f"- CPU: {cpu}, {os.cpu_count()} cores; kernel {platform.release()}; load average at "
        f"the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"- {cmd_version([NGINX, '-v'])} · {cmd_version(['wrk', '-v'])} · {torch_v}",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--only", default="", help="comma-separated: B1,...,B6 (default: all)")
    args = ap.parse_args()
    names = [n.strip().upper() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    for n in names:
        if n not in BENCHMARKS:
            raise SystemExit(f"bench: unknown benchmark {n} ({', '.join(BENCHMARKS)})")
    settings = Settings()
    build_dir = (ROOT / args.build_dir).resolve()
    tmp = tempfile.mkdtemp(prefix="berth-bench.")
    procs = Procs()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sections = []
    failed = []
    bench = Bench(settings, build_dir, tmp, procs)
    try:
        # B1-B4 share one berthd; B6 starts its own.
        berthd = bench.start_berthd() if any(n not in ("B5", "B6") for n in names) else None
        for n in names:
            log(f"{n} ...")
            try:
                sections.append(BENCHMARKS[n](bench))
            except SectionFailed as e:
                failed.append(n)
                log(f"{n} failed: {e}")
                sections.append(e.section)
            except (RuntimeError, OSError, subprocess.SubprocessError, KeyError,
                    json.JSONDecodeError) as e:
                failed.append(n)
                log(f"{n} failed: {e}")
                sections.append(f"### {n}: not run\n\n```\n{str(e).strip()[-2000:]}\n```")
            if berthd is not None and berthd.poll() is not None:
                raise RuntimeError(f"berthd exited; log:\n{tail(berthd.bench_log)}")
    finally:
        procs.stop_all()
        if os.environ.get("BENCH_KEEP", "") in ("", "0"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept {tmp}")

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    rerun = f"{settings.env_line()} make bench BENCH={','.join(names)}"
    report = "\n\n".join([
        f"## Run {when} UTC ({', '.join(names)})" + (" — quick smoke run, not a measurement"
                                                     if settings.quick else ""),
        "\n".join(machine_lines(build_dir)),
        f"Rerun: `{rerun}`. Load: wrk -t1 pinned to cores {settings.client_cpus}; systems "
        f"pinned to cores {settings.server_cpus}; warm-up {settings.warmup}, then {RUNS} × "
        f"{settings.duration}, medians; spread = (max − min) / median of throughput.",
        *sections,
        *(["<details><summary>Load-generator commands</summary>\n\n"
           "Paths are under the run's temporary folder (removed afterwards); each `.lua` is "
           "bench/run.py's `LUA` template with that configuration's body file and key.\n\n```\n"
           + "\n".join(bench.commands) + "\n```\n</details>"] if bench.commands else []),
    ])
    print(report)
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.out, "a") as f:
        f.write("\n\n" + report + "\n")
    log(f"appended to {settings.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
