"""berth's load generator for the reliability suite: per-request accounting, loopback only.

wrk and hey report totals; the reliability tests need to know what happened to *each* request
(was it answered, with what, did any byte of the answer arrive before a failure, which
deployment served it, did the answer belong to this request). So:

- closed loop: `concurrency` threads, each with one persistent keep-alive connection
  (reconnected after a failure), sending the next request as soon as the last one is answered;
- open loop: requests scheduled at a fixed `rate` (request i at t0 + i / rate) and sent by a
  pool of threads, each with its own keep-alive connection.

Every request carries a unique id in its JSON body and in `x-ms-client-request-id`. A request
*succeeds* only when it is answered 200 and the answer echoes its id (correctness, not just a
status). Runs are bounded by a request count and/or a duration and stop by themselves; `stop()`
ends one early (the threads finish their current request).

Standard library only (Debian's /usr/bin/python3).
"""

import http.client
import itertools
import json
import socket
import threading
import time
import uuid

LOOPBACK = "127.0.0.1"
# A closed-loop client whose connection attempt failed waits this long before the next one, so a
# stopped server is not hammered with thousands of refused connects.
CONNECT_BACKOFF_S = 0.01


class Outcome:
    """What happened to one request. Times are time.monotonic() seconds."""

    __slots__ = ("rid", "worker", "scheduled", "started", "sent", "ended", "status",
                 "got_bytes", "retry_after", "deployment", "echoed", "answer", "error",
                 "connected_before")

    def __init__(self, rid, worker, scheduled):
        self.rid = rid
        self.worker = worker
        self.scheduled = scheduled   # open loop: when it was due; closed loop: = started
        self.started = None          # before connecting (if needed) and sending
        self.sent = None             # the whole request was written to the socket
        self.ended = None
        self.status = None           # HTTP status, None when no answer was read
        self.got_bytes = False       # at least one byte of an answer arrived
        self.retry_after = None      # the Retry-After header, if any
        self.deployment = None       # the azureml-model-deployment header, if any
        self.echoed = False          # the answer's body echoed this request's id
        self.answer = None           # the parsed JSON answer of a 200
        self.error = None            # "connect: ...", "send: ...", "recv: ..." on failure
        self.connected_before = False  # sent on a connection opened before this request

    @property
    def ok(self):
        return self.status == 200 and self.echoed

    @property
    def latency(self):
        return None if self.ended is None or self.started is None else self.ended - self.started

    def __repr__(self):
        return (f"<Outcome {self.rid[:8]} status={self.status} bytes={self.got_bytes} "
                f"echoed={self.echoed} dep={self.deployment} error={self.error}>")


def default_body(rid):
    """The test server (tests/servers/test_server.py) echoes the body under "echo"."""
    return {"id": rid}


def default_echo(answer):
    """The id a test-server answer echoes, or None."""
    echo = answer.get("echo") if isinstance(answer, dict) else None
    return echo.get("id") if isinstance(echo, dict) else None


class _Worker:
    """One connection and the loop that sends on it."""

    def __init__(self, gen, index):
        self.gen = gen
        self.index = index
        self.conn = None

    def _close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def one(self, scheduled):
        gen = self.gen
        rid = uuid.uuid4().hex
        out = Outcome(rid, self.index, scheduled)
        data = json.dumps(gen.body(rid)).encode()
        headers = {"Content-Type": "application/json", "x-ms-client-request-id": rid}
        headers.update(gen.headers)
        out.started = time.monotonic()
        stage = "connect"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(LOOPBACK, gen.port, timeout=gen.timeout)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                out.connected_before = True
            stage = "send"
            self.conn.request("POST", gen.path, body=data, headers=headers)
            out.sent = time.monotonic()
            stage = "recv"
            # Peek first: tells "closed or reset before any byte" from "cut off mid-answer".
            first = self.conn.sock.recv(1, socket.MSG_PEEK)
            if not first:
                raise ConnectionAbortedError("closed before any response byte")
            out.got_bytes = True
            r = self.conn.getresponse()
            payload = r.read()
            out.status = r.status
            out.retry_after = r.getheader("Retry-After")
            out.deployment = r.getheader("azureml-model-deployment")
            if r.status == 200:
                try:
                    out.answer = json.loads(payload)
                except ValueError:
                    out.answer = None
                out.echoed = gen.echo(out.answer) == rid
            if r.will_close:
                self._close()
        except (OSError, http.client.HTTPException) as e:
            out.error = f"{stage}: {type(e).__name__}: {e}"
            self._close()
        out.ended = time.monotonic()
        return out


class LoadGen:
    """Sends scoring requests to http://127.0.0.1:<port><path>; see the module comment.

    Use: gen = LoadGen(port, path, key); gen.start_closed(4, count=1000) (or start_open(rate,
    duration=5)); ...; outcomes = gen.wait(); summary(outcomes). Or run_closed / run_open to do
    both. Thread-safe for one run at a time."""

    def __init__(self, port, path, key=None, headers=None, body=default_body, echo=default_echo,
                 timeout=60):
        self.port = port
        self.path = path
        self.headers = dict(headers or {})
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.body = body
        self.echo = echo
        self.timeout = timeout
        self._threads = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._outcomes = []
        self.began = None
        self.finished = None

    # ---- running

    def _reset(self):
        assert not any(t.is_alive() for t in self._threads), "a run is still going"
        self._threads = []
        self._stop.clear()
        self._outcomes = []
        self.began = time.monotonic()
        self.finished = None

    def _record(self, out):
        with self._lock:
            self._outcomes.append(out)

    def start_closed(self, concurrency, count=None, duration=None, think_s=0.0):
        """`concurrency` threads send back to back (or `think_s` seconds apart, leaving their
        keep-alive connections idle in between) until `count` requests were started or
        `duration` seconds passed (at least one bound is required)."""
        assert count is not None or duration is not None, "an unbounded run"
        self._reset()
        tickets = itertools.count() if count is None else iter(range(count))
        deadline = None if duration is None else self.began + duration
        take = threading.Lock()

        def loop(worker):
            try:
                while not self._stop.is_set():
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    with take:
                        if next(tickets, None) is None:
                            return
                    out = worker.one(time.monotonic())
                    self._record(out)
                    pause = think_s
                    if out.error and out.error.startswith("connect"):
                        pause = max(pause, CONNECT_BACKOFF_S)
                    if pause > 0 and self._stop.wait(pause):
                        return
            finally:
                worker._close()

        for i in range(concurrency):
            t = threading.Thread(target=loop, args=(_Worker(self, i),), daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def start_open(self, rate, count=None, duration=None, threads=64):
        """Request i is due at start + i / rate; `threads` senders take the due requests in
        order (a sender that is behind sends at once and the lateness shows in `scheduled`).
        Bounded by `count` and/or `duration`."""
        assert count is not None or duration is not None, "an unbounded run"
        assert rate > 0
        self._reset()
        if duration is not None:
            n = int(rate * duration)
            count = n if count is None else min(count, n)
        tickets = iter(range(count))
        take = threading.Lock()
        t0 = self.began

        def loop(worker):
            try:
                while not self._stop.is_set():
                    with take:
                        i = next(tickets, None)
                    if i is None:
                        return
                    due = t0 + i / rate
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    self._record(worker.one(due))
            finally:
                worker._close()

        for i in range(threads):
            t = threading.Thread(target=loop, args=(_Worker(self, i),), daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def stop(self):
        """Ends the run early: no new requests; the ones in flight finish."""
        self._stop.set()

    def running(self):
        return any(t.is_alive() for t in self._threads)

    def count(self):
        with self._lock:
            return len(self._outcomes)

    def snapshot(self):
        with self._lock:
            return list(self._outcomes)

    def wait(self, timeout=None):
        """Waits for the run to end; returns every Outcome. Fails when `timeout` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                self.stop()
                raise AssertionError(f"load generator still running after {timeout}s")
        self.finished = time.monotonic()
        return self.snapshot()

    def run_closed(self, concurrency, count=None, duration=None, timeout=None, think_s=0.0):
        self.start_closed(concurrency, count, duration, think_s)
        return self.wait(timeout)

    def run_open(self, rate, count=None, duration=None, threads=64, timeout=None):
        self.start_open(rate, count, duration, threads)
        return self.wait(timeout)


# -------------------------------------------------------------------------------------------
# Figures


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list; None for an empty one."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


def _latency_figures(outcomes):
    lat = [o.latency * 1000 for o in outcomes if o.latency is not None]
    return {"n": len(lat), "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90),
            "p99_ms": percentile(lat, 99)}


def status_key(o):
    if o.status is not None:
        return str(o.status)
    return "no-answer" if not o.got_bytes else "cut-off"


def summary(outcomes, began=None, finished=None):
    """Counts per status ("no-answer": failed before any byte; "cut-off": failed after some),
    success rate, latency percentiles overall and per status, goodput (successes/s over the
    run's wall time)."""
    n = len(outcomes)
    if began is None:
        began = min((o.started for o in outcomes), default=0.0)
    if finished is None:
        finished = max((o.ended for o in outcomes), default=began)
    wall = max(finished - began, 1e-9)
    by_status = {}
    for o in outcomes:
        by_status.setdefault(status_key(o), []).append(o)
    successes = sum(1 for o in outcomes if o.ok)
    return {
        "requests": n,
        "successes": successes,
        "success_rate": successes / n if n else None,
        "wrong_answers": sum(1 for o in outcomes if o.status == 200 and not o.echoed),
        "statuses": {k: len(v) for k, v in sorted(by_status.items())},
        "latency": _latency_figures(outcomes),
        "latency_by_status": {k: _latency_figures(v) for k, v in sorted(by_status.items())},
        "duration_s": wall,
        "goodput_rps": successes / wall,
        "throughput_rps": n / wall,
    }


def format_ms(x):
    return "-" if x is None else f"{x:.1f}"


def format_summary(title, s):
    """A few printable lines for CI logs."""
    lat = s["latency"]
    rate = "-" if s["success_rate"] is None else f"{100 * s['success_rate']:.3f}%"
    lines = [f"[{title}] {s['requests']} requests in {s['duration_s']:.2f}s: "
             f"success {s['successes']} ({rate}), wrong answers {s['wrong_answers']}, "
             f"statuses {s['statuses']}",
             f"[{title}] latency ms p50 {format_ms(lat['p50_ms'])} p90 {format_ms(lat['p90_ms'])} "
             f"p99 {format_ms(lat['p99_ms'])}; goodput {s['goodput_rps']:.1f}/s, "
             f"throughput {s['throughput_rps']:.1f}/s"]
    for status, f in s["latency_by_status"].items():
        lines.append(f"[{title}]   {status}: n {f['n']} p50 {format_ms(f['p50_ms'])} "
                     f"p90 {format_ms(f['p90_ms'])} p99 {format_ms(f['p99_ms'])} ms")
    return "\n".join(lines)
